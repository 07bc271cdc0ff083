// math_test.cc: the vectorized exp / sigmoid / tanh of every compiled ISA against double libm.
// Dense grid over [-30, 30], large |x| up to 1e4, +-inf, NaN, array sizes that leave tails, and
// vector-vs-tail bit identity. Exits non-zero on any failure and prints the max errors.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cmath>
#include <limits>
#include <vector>

#include "check.h"
#include "isas.h"
#include "dispatch.h"

using namespace gated;

typedef void (*ArrayFn)(const float*, float*, int64_t);

static double ref_exp(double x) { return std::exp(x); }
static double ref_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
static double ref_tanh(double x) { return std::tanh(x); }

struct Fn {
  const char* name;
  ArrayFn fn;
  double (*ref)(double);
  bool relative;  // exp: relative error; sigmoid/tanh: absolute
  double tol;
};

static void check_grid(const char* isa, const Fn& f) {
  // Dense grid over [-30, 30] (step ~6e-5) plus random-ish offsets so it is not all round numbers.
  const int64_t n = 1000003;
  std::vector<float> x(n), y(n);
  for (int64_t i = 0; i < n; i++) x[i] = (float)(-30.0 + 60.0 * (double)i / (double)(n - 1));
  f.fn(x.data(), y.data(), n);
  double max_err = 0, at = 0;
  for (int64_t i = 0; i < n; i++) {
    double r = f.ref((double)x[i]);
    double e = std::fabs((double)y[i] - r);
    if (f.relative) e /= std::fabs(r);
    if (!(e <= max_err)) {
      max_err = e;
      at = x[i];
    }
  }
  printf("  %-6s %-8s max %s error on [-30,30]: %.3g (at x=%.6g)\n", isa, f.name,
         f.relative ? "relative" : "absolute", max_err, at);
  CHECK(max_err <= f.tol, "%s %s grid error %.3g > %.3g", isa, f.name, max_err, f.tol);

  // Near 0 (tanh's polynomial branch, sigmoid's midpoint) and exp's full normal range.
  double lim = f.relative ? 87.0 : 30.0;
  max_err = 0;
  const int64_t m = 200001;
  for (int64_t i = 0; i < m; i++) x[i] = (float)(-lim + 2 * lim * (double)i / (double)(m - 1));
  for (int64_t i = 0; i < m; i++) x[m + i] = (float)(-1.0 + 2.0 * (double)i / (double)(m - 1));
  f.fn(x.data(), y.data(), 2 * m);
  for (int64_t i = 0; i < 2 * m; i++) {
    double r = f.ref((double)x[i]);
    double e = std::fabs((double)y[i] - r);
    if (f.relative) e /= std::fabs(r);
    if (e > max_err) max_err = e;
  }
  printf("  %-6s %-8s max error on [-%g,%g] and [-1,1]: %.3g\n", isa, f.name, lim, lim, max_err);
  CHECK(max_err <= f.tol, "%s %s wide error %.3g", isa, f.name, max_err);
}

static void check_special(const char* isa, const MathKernels& mk) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float xs[] = {1e4f, -1e4f, 100.f, -100.f, 88.0f, 89.0f,  -88.0f,  -90.0f, -104.0f, -200.f,
                      inf,  -inf,  nan,   0.0f,   -0.0f, 1e-30f, -1e-30f, 50.f,   -50.f};
  const int n = sizeof xs / sizeof xs[0];
  float e[n], s[n], t[n];
  mk.exp(xs, e, n);
  mk.sigmoid(xs, s, n);
  mk.tanh(xs, t, n);
  for (int i = 0; i < n; i++) {
    float x = xs[i];
    if (std::isnan(x)) {
      CHECK(std::isnan(e[i]) && std::isnan(s[i]) && std::isnan(t[i]), "%s NaN not propagated", isa);
      continue;
    }
    double re = std::exp((double)x), rs = 1.0 / (1.0 + std::exp(-(double)x)), rt = std::tanh((double)x);
    // exp: +inf exactly when the true value exceeds FLT_MAX; relative 1e-6 in the normal range;
    // absolute tiny (denormal or 0) below it.
    if (re > 3.4028234663852886e38) {
      CHECK(e[i] == inf, "%s exp(%g) = %g, want +inf", isa, x, e[i]);
    } else if (re >= 1.1754943508222875e-38) {
      CHECK(std::fabs(e[i] - re) <= 1e-6 * re, "%s exp(%g) = %g, want %g", isa, x, e[i], re);
    } else {
      CHECK(e[i] >= 0 && e[i] < 1.2e-38f, "%s exp(%g) = %g, want ~0", isa, x, e[i]);
    }
    CHECK(std::fabs(s[i] - rs) <= 1e-6 && s[i] >= 0 && s[i] <= 1, "%s sigmoid(%g) = %.9g, want %.9g", isa, x,
          s[i], rs);
    CHECK(std::fabs(t[i] - rt) <= 1e-6 && t[i] >= -1 && t[i] <= 1, "%s tanh(%g) = %.9g, want %.9g", isa, x,
          t[i], rt);
  }
  CHECK(e[10] == inf && s[10] == 1.0f && t[10] == 1.0f, "%s f(+inf)", isa);
  CHECK(e[11] == 0.0f && s[11] == 0.0f && t[11] == -1.0f, "%s f(-inf)", isa);
  CHECK(t[0] == 1.0f && t[1] == -1.0f && s[0] == 1.0f && s[1] == 0.0f, "%s saturation", isa);
  // Large |x| sweep up to 1e4: sigmoid/tanh stay within [0,1] / [-1,1] and accurate.
  std::vector<float> x(20001), y(20001);
  for (int i = 0; i <= 20000; i++) x[i] = (float)(-1e4 + i);
  for (int k = 0; k < 2; k++) {
    (k ? mk.tanh : mk.sigmoid)(x.data(), y.data(), 20001);
    double m = 0;
    for (int i = 0; i <= 20000; i++) {
      double r = k ? std::tanh((double)x[i]) : 1.0 / (1.0 + std::exp(-(double)x[i]));
      double d = std::fabs(y[i] - r);
      if (!(d <= m)) m = d;
    }
    CHECK(m <= 1e-6, "%s %s large-|x| error %g", isa, k ? "tanh" : "sigmoid", m);
  }
}

// Sizes that leave tails; in-place; the value at each position must not depend on where it falls.
static void check_tails(const char* isa, const Fn& f) {
  const int sizes[] = {1, 7, 9, 33, 257};
  std::vector<float> base(300), ref(300);
  for (int i = 0; i < 300; i++) base[i] = (float)std::sin(i * 0.7) * 12.0f;
  f.fn(base.data(), ref.data(), 300);
  for (int n : sizes) {
    for (int off = 0; off < 3; off++) {
      std::vector<float> x(base.begin() + off, base.begin() + off + n), y(n + 1, -7.0f);
      f.fn(x.data(), y.data(), n);
      CHECK(y[n] == -7.0f, "%s %s wrote past n=%d", isa, f.name, n);
      CHECK(memcmp(y.data(), ref.data() + off, n * sizeof(float)) == 0,
            "%s %s n=%d off=%d: not bit-identical to the vector body", isa, f.name, n, off);
      f.fn(x.data(), x.data(), n);  // in place
      CHECK(memcmp(x.data(), ref.data() + off, n * sizeof(float)) == 0, "%s %s in-place n=%d", isa, f.name,
            n);
    }
  }
}

int main() {
  int tested = 0;
  for (const std::string& name : test_isas()) {
    const char* isa = name.c_str();
    CHECK(set_isa(isa), "set_isa(%s)", isa);
    tested++;
    const MathKernels& mk = kernels().math;
    printf("ISA %s\n", isa);
    Fn fns[] = {{"exp", mk.exp, ref_exp, true, 1e-6},
                {"sigmoid", mk.sigmoid, ref_sigmoid, false, 1e-6},
                {"tanh", mk.tanh, ref_tanh, false, 1e-6}};
    for (const Fn& f : fns) {
      check_grid(isa, f);
      check_tails(isa, f);
    }
    check_special(isa, mk);
  }
  // AVX2 and AVX-512 run the same lane-wise operations (simd.h): the same bits on a grid with specials.
  if (isa_available("avx2") && isa_available("avx512")) {
    std::vector<float> x;
    for (int i = 0; i <= 40000; i++) x.push_back(-110.0f + i * 0.0055f);
    for (float v : {INFINITY, -INFINITY, NAN, 1e4f, -1e4f, 0.0f, -0.0f, 1e-30f}) x.push_back(v);
    const int n = (int)x.size();
    for (int f = 0; f < 3; f++) {
      std::vector<float> y[2] = {std::vector<float>(n), std::vector<float>(n)};
      for (int i = 0; i < 2; i++) {
        set_isa(i ? "avx512" : "avx2");
        const MathKernels& mk = kernels().math;
        (f == 0 ? mk.exp : f == 1 ? mk.sigmoid : mk.tanh)(x.data(), y[i].data(), n);
      }
      CHECK(memcmp(y[0].data(), y[1].data(), n * sizeof(float)) == 0, "math %d: avx2 and avx512 differ", f);
    }
    printf("avx2 vs avx512: exp, sigmoid, tanh bit-identical on %d inputs\n", n);
  }
  set_isa(best_isa());
  CHECK(tested >= 1, "no ISA available");
  if (check_failures()) {
    printf("math_test: %d failure(s)\n", check_failures());
    return 1;
  }
  printf("math_test: OK (%d ISA)\n", tested);
  return 0;
}
