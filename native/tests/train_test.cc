// train_test.cc: the training kernels (train.h: losses, optimizers, clipping) of every compiled ISA
// against double-precision references written here from the PyTorch formulas, the references'
// gradients against central finite differences, and a few hand-checked values. Sizes 1, 7, 9, 33,
// 257 and 1000 leave SIMD tails. Exits non-zero on any failure.
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include <cmath>
#include <vector>

#include "check.h"
#include "isas.h"
#include "dispatch.h"
#include "train.h"

using namespace gated;

namespace {

// Deterministic pseudo-random numbers (a 64-bit LCG), uniform in [lo, hi).
struct Lcg {
  uint64_t s;
  double next(double lo, double hi) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * (double)(s >> 11) / 9007199254740992.0;
  }
};

bool close(double a, double b, double atol, double rtol) {
  return std::fabs(a - b) <= atol + rtol * std::fabs(b);
}

// ---- double references ----

// Loss of one softmax cross-entropy call; writes the analytic gradient when d is non-null.
double ref_ce(const std::vector<double>& x, const std::vector<int32_t>& t, const std::vector<double>* w,
              int64_t N, int64_t C, int32_t ignore, bool mean, std::vector<double>* d) {
  double wsum = 0, total = 0;
  for (int64_t i = 0; i < N; i++)
    if (t[i] != ignore) wsum += w ? (*w)[i] : 1.0;
  double scale = mean ? (wsum > 0 ? 1.0 / wsum : 0.0) : 1.0;
  if (d) d->assign(N * C, 0.0);
  for (int64_t i = 0; i < N; i++) {
    double wi = w ? (*w)[i] : 1.0;
    if (t[i] == ignore || wi == 0) continue;
    double mx = -INFINITY;
    for (int64_t j = 0; j < C; j++) mx = std::fmax(mx, x[i * C + j]);
    double s = 0;
    for (int64_t j = 0; j < C; j++) s += std::exp(x[i * C + j] - mx);
    total += wi * (std::log(s) + mx - x[i * C + t[i]]);
    if (d) {
      for (int64_t j = 0; j < C; j++)
        (*d)[i * C + j] = wi * scale * (std::exp(x[i * C + j] - mx) / s - (j == t[i] ? 1.0 : 0.0));
    }
  }
  return total * scale;
}

double ref_bce(const std::vector<double>& x, const std::vector<double>& y, const std::vector<double>& w,
               bool mean, std::vector<double>* d) {
  const size_t n = x.size();
  double scale = mean ? (n ? 1.0 / n : 0.0) : 1.0, total = 0;
  if (d) d->resize(n);
  for (size_t i = 0; i < n; i++) {
    total += w[i] * (std::fmax(x[i], 0.0) - x[i] * y[i] + std::log1p(std::exp(-std::fabs(x[i]))));
    if (d) (*d)[i] = w[i] * scale * (1.0 / (1.0 + std::exp(-x[i])) - y[i]);
  }
  return total * scale;
}

double ref_mse(const std::vector<double>& p, const std::vector<double>& t, const std::vector<double>& w,
               bool mean, std::vector<double>* d) {
  const size_t n = p.size();
  double scale = mean ? (n ? 1.0 / n : 0.0) : 1.0, total = 0;
  if (d) d->resize(n);
  for (size_t i = 0; i < n; i++) {
    total += w[i] * (p[i] - t[i]) * (p[i] - t[i]);
    if (d) (*d)[i] = 2.0 * w[i] * scale * (p[i] - t[i]);
  }
  return total * scale;
}

std::vector<double> to_d(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }
std::vector<float> randv(Lcg& g, size_t n, double lo, double hi) {
  std::vector<float> v(n);
  for (auto& x : v) x = (float)g.next(lo, hi);
  return v;
}

// Kernel gradient vs reference gradient, elementwise (tolerance relative to the largest |ref|).
void check_grad(const char* isa, const char* what, const std::vector<float>& got,
                const std::vector<double>& ref, double rtol) {
  double scale = 1e-30;
  for (double r : ref) scale = std::fmax(scale, std::fabs(r));
  for (size_t i = 0; i < ref.size(); i++) {
    if (!close(got[i], ref[i], rtol * scale, 0)) {
      CHECK(false, "%s %s[%zu] = %.9g, reference %.9g", isa, what, i, (double)got[i], ref[i]);
      return;
    }
  }
}

// ---- losses ----

void test_ce(const char* isa) {
  Lcg g{42};
  const int64_t sizes[] = {1, 7, 33, 1000};
  for (int64_t N : {1, 7, 33}) {
    for (int64_t C : sizes) {
      for (int variant = 0; variant < 4; variant++) {
        const bool weighted = variant & 1, mean = !(variant & 2);
        std::vector<float> x = randv(g, N * C, -8, 8), w = randv(g, N, 0, 2);
        std::vector<int32_t> t(N);
        for (int64_t i = 0; i < N; i++) t[i] = (int32_t)(g.next(0, 1) * C) % (int32_t)C;
        if (N > 1) t[1] = -100;           // ignored row
        if (N > 2 && weighted) w[2] = 0;  // masked row
        std::vector<double> xd = to_d(x), wd = to_d(w), dref;
        double lref = ref_ce(xd, t, weighted ? &wd : nullptr, N, C, -100, mean, &dref);
        std::vector<float> d(N * C, 123.0f);
        std::vector<uint8_t> correct(N, 7);
        CrossEntropyResult r =
            softmax_cross_entropy(x.data(), t.data(), weighted ? w.data() : nullptr, N, C, -100,
                                  mean ? Reduction::Mean : Reduction::Sum, d.data(), correct.data());
        CHECK(close(r.loss, lref, 1e-6, 1e-5), "%s ce N=%lld C=%lld v=%d loss %.9g ref %.9g", isa,
              (long long)N, (long long)C, variant, r.loss, lref);
        check_grad(isa, "ce dlogits", d, dref, 1e-5);
        int64_t nc = 0;
        for (int64_t i = 0; i < N; i++) {
          double wi = weighted ? w[i] : 1.0;
          int64_t am = 0;
          for (int64_t j = 1; j < C; j++)
            if (x[i * C + j] > x[i * C + am]) am = j;
          uint8_t want = (t[i] != -100 && wi != 0 && am == t[i]) ? 1 : 0;
          CHECK(correct[i] == want, "%s ce correct[%lld] = %d, want %d", isa, (long long)i, correct[i], want);
          nc += want;
        }
        CHECK(r.num_correct == nc, "%s ce numCorrect %lld want %lld", isa, (long long)r.num_correct,
              (long long)nc);
      }
    }
  }
  // Stability: logits of +-1e4 give finite loss and gradient. Row [1e4, 0]: target 1 loses 1e4.
  float big[4] = {1e4f, 0.0f, -1e4f, 0.0f};
  int32_t tt[2] = {1, 0};
  float d[4];
  CrossEntropyResult r = softmax_cross_entropy(big, tt, nullptr, 2, 2, -100, Reduction::Sum, d, nullptr);
  CHECK(close(r.loss, 2e4, 1e-3, 1e-7), "%s ce stability loss %.9g", isa, r.loss);
  CHECK(close(d[0], 1, 1e-6, 0) && close(d[1], -1, 1e-6, 0) && close(d[2], -1, 1e-6, 0) &&
            close(d[3], 1, 1e-6, 0),
        "%s ce stability grad %g %g %g %g", isa, d[0], d[1], d[2], d[3]);
  // Everything ignored: loss 0, gradient 0 (documented deviation from PyTorch's NaN).
  int32_t ign[2] = {-1, -1};
  r = softmax_cross_entropy(big, ign, nullptr, 2, 2, -1, Reduction::Mean, d, nullptr);
  CHECK(r.loss == 0 && r.weight_sum == 0 && d[0] == 0 && d[3] == 0, "%s ce all ignored", isa);
}

void test_pointwise(const char* isa) {
  Lcg g{7};
  for (int64_t n : {1, 7, 33, 1000}) {
    for (int variant = 0; variant < 4; variant++) {
      const bool weighted = variant & 1, mean = !(variant & 2);
      std::vector<float> x = randv(g, n, -30, 30), y = randv(g, n, 0, 1), w = randv(g, n, 0, 2);
      std::vector<double> wd = weighted ? to_d(w) : std::vector<double>(n, 1.0), dref;
      std::vector<float> d(n);
      Reduction red = mean ? Reduction::Mean : Reduction::Sum;
      double l = bce_with_logits(x.data(), y.data(), weighted ? w.data() : nullptr, n, red, d.data());
      double lref = ref_bce(to_d(x), to_d(y), wd, mean, &dref);
      CHECK(close(l, lref, 1e-9, 1e-9), "%s bce n=%lld loss %.12g ref %.12g", isa, (long long)n, l, lref);
      check_grad(isa, "bce dx", d, dref, 1e-6);
      l = mse(x.data(), y.data(), weighted ? w.data() : nullptr, n, red, d.data());
      lref = ref_mse(to_d(x), to_d(y), wd, mean, &dref);
      CHECK(close(l, lref, 1e-9, 1e-9), "%s mse n=%lld loss %.12g ref %.12g", isa, (long long)n, l, lref);
      check_grad(isa, "mse dp", d, dref, 1e-6);
    }
  }
  // Hand values: x = 0, y = 1: log 2, gradient sigmoid(0) - 1 = -0.5. x = 100, y = 0: 100, grad 1.
  float x[2] = {0.0f, 100.0f}, y[2] = {1.0f, 0.0f}, d[2];
  double l = bce_with_logits(x, y, nullptr, 2, Reduction::Sum, d);
  CHECK(close(l, std::log(2.0) + 100.0, 1e-12, 1e-12) && d[0] == -0.5f && d[1] == 1.0f,
        "%s bce hand values %.12g %g %g", isa, l, d[0], d[1]);
}

// Reference gradients against central finite differences of the reference losses (double).
void test_finite_differences() {
  Lcg g{3};
  const int64_t N = 4, C = 5;
  std::vector<double> x(N * C), w(N);
  for (auto& v : x) v = g.next(-3, 3);
  for (auto& v : w) v = g.next(0.1, 2);
  std::vector<int32_t> t = {0, -100, 4, 2};
  std::vector<double> d;
  ref_ce(x, t, &w, N, C, -100, true, &d);
  for (int64_t k = 0; k < N * C; k++) {
    std::vector<double> xp = x, xm = x;
    xp[k] += 1e-6;
    xm[k] -= 1e-6;
    double fd =
        (ref_ce(xp, t, &w, N, C, -100, true, nullptr) - ref_ce(xm, t, &w, N, C, -100, true, nullptr)) / 2e-6;
    CHECK(close(d[k], fd, 1e-8, 1e-6), "fd ce [%lld] %.12g vs %.12g", (long long)k, d[k], fd);
  }
  std::vector<double> y(N), p(N);
  for (auto& v : y) v = g.next(0, 1);
  for (auto& v : p) v = g.next(-4, 4);
  ref_bce(p, y, w, true, &d);
  std::vector<double> dm;
  ref_mse(p, y, w, true, &dm);
  for (int64_t k = 0; k < N; k++) {
    std::vector<double> pp = p, pm = p;
    pp[k] += 1e-6;
    pm[k] -= 1e-6;
    double fd = (ref_bce(pp, y, w, true, nullptr) - ref_bce(pm, y, w, true, nullptr)) / 2e-6;
    CHECK(close(d[k], fd, 1e-8, 1e-6), "fd bce [%lld] %.12g vs %.12g", (long long)k, d[k], fd);
    fd = (ref_mse(pp, y, w, true, nullptr) - ref_mse(pm, y, w, true, nullptr)) / 2e-6;
    CHECK(close(dm[k], fd, 1e-8, 1e-6), "fd mse [%lld] %.12g vs %.12g", (long long)k, dm[k], fd);
  }
}

// ---- optimizers: three steps each against a double reference of the torch.optim formulas ----

void check_vec(const char* isa, const char* what, const std::vector<float>& got,
               const std::vector<double>& ref, double rtol) {
  for (size_t i = 0; i < ref.size(); i++) {
    if (!close(got[i], ref[i], 1e-6, rtol)) {
      CHECK(false, "%s %s[%zu] = %.9g, reference %.9g", isa, what, i, (double)got[i], ref[i]);
      return;
    }
  }
}

void test_optimizers(const char* isa) {
  Lcg g{11};
  for (int64_t n : {1, 7, 9, 33, 257}) {
    std::vector<float> p0 = randv(g, n, -1, 1);
    std::vector<std::vector<float>> grads;
    for (int s = 0; s < 3; s++) grads.push_back(randv(g, n, -1, 1));
    // SGD: momentum 0.9, dampening 0.1 or nesterov, weight decay 0.01.
    for (int nest = 0; nest < 2; nest++) {
      SgdOptions o{0.1, 0.9, nest ? 0.0 : 0.1, 0.01, nest == 1};
      std::vector<float> p = p0, buf(n, 0.0f);
      std::vector<double> pr = to_d(p0), br(n, 0.0);
      for (int s = 1; s <= 3; s++) {
        sgd_step(p.data(), grads[s - 1].data(), buf.data(), n, o, s);
        for (int64_t i = 0; i < n; i++) {
          double gi = grads[s - 1][i] + o.weight_decay * pr[i];
          br[i] = s == 1 ? gi : o.momentum * br[i] + (1 - o.dampening) * gi;
          gi = o.nesterov ? gi + o.momentum * br[i] : br[i];
          pr[i] -= o.lr * gi;
        }
      }
      check_vec(isa, nest ? "sgd nesterov param" : "sgd param", p, pr, 1e-5);
      check_vec(isa, "sgd buf", buf, br, 1e-5);
    }
    // Adam and AdamW.
    for (int dec = 0; dec < 2; dec++) {
      AdamOptions o{0.01, 0.9, 0.999, 1e-8, 0.05, dec == 1};
      std::vector<float> p = p0, m(n, 0.0f), v(n, 0.0f);
      std::vector<double> pr = to_d(p0), mr(n, 0.0), vr(n, 0.0);
      for (int s = 1; s <= 3; s++) {
        adam_step(p.data(), grads[s - 1].data(), m.data(), v.data(), n, o, s);
        for (int64_t i = 0; i < n; i++) {
          double gi = grads[s - 1][i];
          if (o.decoupled)
            pr[i] *= 1 - o.lr * o.weight_decay;
          else
            gi += o.weight_decay * pr[i];
          mr[i] = o.beta1 * mr[i] + (1 - o.beta1) * gi;
          vr[i] = o.beta2 * vr[i] + (1 - o.beta2) * gi * gi;
          double mh = mr[i] / (1 - std::pow(o.beta1, s)), vh = vr[i] / (1 - std::pow(o.beta2, s));
          pr[i] -= o.lr * mh / (std::sqrt(vh) + o.eps);
        }
      }
      check_vec(isa, dec ? "adamw param" : "adam param", p, pr, 1e-5);
      check_vec(isa, "adam exp_avg", m, mr, 1e-5);
      check_vec(isa, "adam exp_avg_sq", v, vr, 1e-5);
    }
    // RMSprop: plain, and centered with momentum.
    for (int c = 0; c < 2; c++) {
      RmspropOptions o{0.01, 0.99, 1e-8, 0.01, c ? 0.9 : 0.0, c == 1};
      std::vector<float> p = p0, sq(n, 0.0f), ga(n, 0.0f), buf(n, 0.0f);
      std::vector<double> pr = to_d(p0), sqr(n, 0.0), gar(n, 0.0), br(n, 0.0);
      for (int s = 1; s <= 3; s++) {
        rmsprop_step(p.data(), grads[s - 1].data(), sq.data(), c ? ga.data() : nullptr,
                     c ? buf.data() : nullptr, n, o);
        for (int64_t i = 0; i < n; i++) {
          double gi = grads[s - 1][i] + o.weight_decay * pr[i];
          sqr[i] = o.alpha * sqr[i] + (1 - o.alpha) * gi * gi;
          double var = sqr[i];
          if (o.centered) {
            gar[i] = o.alpha * gar[i] + (1 - o.alpha) * gi;
            var -= gar[i] * gar[i];
          }
          double avg = std::sqrt(var) + o.eps;
          if (o.momentum > 0) {
            br[i] = o.momentum * br[i] + gi / avg;
            pr[i] -= o.lr * br[i];
          } else {
            pr[i] -= o.lr * gi / avg;
          }
        }
      }
      // Centered RMSprop divides by sqrt(sq - ga^2), which cancels: a looser relative bound.
      check_vec(isa, c ? "rmsprop centered param" : "rmsprop param", p, pr, c ? 1e-4 : 1e-5);
      check_vec(isa, "rmsprop square_avg", sq, sqr, 1e-5);
    }
  }
}

void test_clipping(const char* isa) {
  Lcg g{5};
  std::vector<float> a = randv(g, 33, -3, 3), b = randv(g, 1000, -3, 3), c;  // c empty
  double sq = 0;
  for (float v : a) sq += (double)v * v;
  for (float v : b) sq += (double)v * v;
  const double norm = std::sqrt(sq);
  std::vector<float> a0 = a, b0 = b;
  float* ptrs[3] = {a.data(), b.data(), c.data()};
  int64_t sizes[3] = {33, 1000, 0};
  double got = clip_grad_norm(ptrs, sizes, 3, 1.0);
  CHECK(close(got, norm, 0, 1e-12), "%s clip norm %.12g want %.12g", isa, got, norm);
  double after = 0;
  for (float v : a) after += (double)v * v;
  for (float v : b) after += (double)v * v;
  CHECK(close(std::sqrt(after), 1.0, 1e-6, 0), "%s clipped norm %.9g, want 1", isa, std::sqrt(after));
  // Below the limit: untouched.
  got = clip_grad_norm(ptrs, sizes, 3, 1e9);
  CHECK(a[5] == (float)(a0[5] * (1.0 / (norm + 1e-6))) || close(a[5], a0[5] / norm, 1e-7, 1e-6),
        "%s clip below the limit changed values", isa);
  // Clip by value, NaN kept.
  a[0] = NAN;
  clip_grad_value(ptrs, sizes, 3, 0.5);
  bool ok = std::isnan(a[0]);
  for (size_t i = 1; i < a.size(); i++) ok = ok && a[i] >= -0.5f && a[i] <= 0.5f;
  for (size_t i = 0; i < b.size(); i++) ok = ok && std::fabs(b[i]) <= 0.5f;
  CHECK(ok, "%s clip by value", isa);
  std::vector<float> h = {-2.0f, -0.25f, 0.25f, 2.0f};
  float* hp[1] = {h.data()};
  int64_t hs[1] = {4};
  clip_grad_value(hp, hs, 1, 1.0);
  CHECK(h[0] == -1.0f && h[1] == -0.25f && h[2] == 0.25f && h[3] == 1.0f, "%s clip by value hand", isa);
}

}  // namespace

int main() {
  test_finite_differences();
  for (const std::string& name : test_isas()) {
    const char* isa = name.c_str();
    CHECK(set_isa(isa), "set_isa(%s)", isa);
    printf("train kernels: %s\n", isa);
    test_ce(isa);
    test_pointwise(isa);
    test_optimizers(isa);
    test_clipping(isa);
  }
  set_isa(best_isa());
  printf(check_failures() ? "FAILED (%d)\n" : "ok\n", check_failures());
  return check_failures() != 0;
}
