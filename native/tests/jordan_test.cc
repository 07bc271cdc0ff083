// jordan_test.cc: the Jordan network kernels (jordan.h) against a plain double-precision reference:
// forward outputs and the fed-back output, and backward against central differences of the loss
// L = sum r . y, with lengths and reverse; 1 vs 2 threads bit-identical.
#include <math.h>
#include <string.h>

#include <random>
#include <vector>

#include "check.h"
#include "jordan.h"
#include "pool.h"

using namespace gated;

struct Net {
  JordanShape s;
  std::vector<float> x, wih, why, who, bih, bhh, bho, y0;
  std::vector<int32_t> len;
  bool reverse;
  int act;
  JordanOutActivation ao;
  JordanInputs in() const {
    return {s, x.data(), wih.data(), why.data(), who.data(), bih.data(), bhh.data(), bho.data(), len.data(), reverse, act, ao};
  }
};

static double loss(const Net& n, const std::vector<float>& r) {
  std::vector<float> y(n.s.T * n.s.B * n.s.O), yn(n.s.B * n.s.O);
  JordanForwardArgs f{n.in(), n.y0.data(), y.data(), yn.data(), nullptr, nullptr};
  jordan_forward(f);
  double l = 0;
  for (size_t i = 0; i < y.size(); i++) l += (double)r[i] * y[i];
  return l;
}

int main() {
  std::mt19937 g(5);
  std::uniform_real_distribution<float> u(-0.6f, 0.6f);
  for (int cfg = 0; cfg < 4; cfg++) {
    Net n;
    n.s = {4, 3, 2, 5, 3};
    auto fill = [&](std::vector<float>& v, int64_t k) { v.resize(k); for (auto& e : v) e = u(g); };
    fill(n.x, n.s.T * n.s.B * n.s.D);
    fill(n.wih, n.s.H * n.s.D); fill(n.why, n.s.H * n.s.O); fill(n.who, n.s.O * n.s.H);
    fill(n.bih, n.s.H); fill(n.bhh, n.s.H); fill(n.bho, n.s.O); fill(n.y0, n.s.B * n.s.O);
    n.len = {4, 2, 0};
    n.reverse = cfg & 1;
    n.act = (cfg >> 1) & 1;
    n.ao = (JordanOutActivation)(cfg % 3);
    const int64_t TB = n.s.T * n.s.B;
    std::vector<float> r(TB * n.s.O);
    for (auto& e : r) e = u(g);
    std::vector<float> y(TB * n.s.O), yn(n.s.B * n.s.O), cache(jordan_cache_size(n.s));
    jordan_forward({n.in(), n.y0.data(), y.data(), yn.data(), nullptr, cache.data()});
    // An empty sequence keeps y0; masked rows are zero.
    for (int k = 0; k < n.s.O; k++) CHECK(yn[2 * n.s.O + k] == n.y0[2 * n.s.O + k], "yN of an empty sequence");
    for (int t = 2; t < 4; t++) CHECK(y[(t * 3 + 1) * n.s.O] == 0.0f, "masked row zero");
    std::vector<float> dx(TB * n.s.D), dy0(n.s.B * n.s.O), dwih(n.wih.size()), dwhy(n.why.size()), dwho(n.who.size()),
        dbih(n.s.H), dbhh(n.s.H), dbho(n.s.O);
    jordan_backward({n.in(), cache.data(), r.data(), nullptr, dx.data(), dy0.data(), dwih.data(), dwhy.data(),
                     dwho.data(), dbih.data(), dbhh.data(), dbho.data()});
    struct T { std::vector<float>* v; std::vector<float>* gv; const char* name; };
    for (T t : {T{&n.x, &dx, "x"}, T{&n.wih, &dwih, "w_ih"}, T{&n.why, &dwhy, "w_hy"}, T{&n.who, &dwho, "w_ho"},
                T{&n.bih, &dbih, "b_ih"}, T{&n.bhh, &dbhh, "b_hh"}, T{&n.bho, &dbho, "b_ho"}, T{&n.y0, &dy0, "y0"}}) {
      for (size_t i = 0; i < t.v->size(); i++) {
        const float s = (*t.v)[i], eps = 1e-2f;
        (*t.v)[i] = s + eps;
        const double up = loss(n, r);
        (*t.v)[i] = s - eps;
        const double dn = loss(n, r);
        (*t.v)[i] = s;
        const double num = (up - dn) / (2 * eps);
        CHECK(fabs(num - (*t.gv)[i]) < 2e-3 + 2e-2 * fabs(num), "cfg %d %s[%zu]: analytic %g numeric %g", cfg,
              t.name, i, (*t.gv)[i], num);
      }
    }
  }
  // 1 vs 2 threads: bit-identical.
  {
    Net n;
    n.s = {6, 40, 30, 70, 11};
    auto fill = [&](std::vector<float>& v, int64_t k) { v.resize(k); for (auto& e : v) e = u(g); };
    fill(n.x, n.s.T * n.s.B * n.s.D);
    fill(n.wih, n.s.H * n.s.D); fill(n.why, n.s.H * n.s.O); fill(n.who, n.s.O * n.s.H);
    fill(n.bih, n.s.H); fill(n.bhh, n.s.H); fill(n.bho, n.s.O); fill(n.y0, n.s.B * n.s.O);
    n.len.resize(n.s.B);
    for (int b = 0; b < n.s.B; b++) n.len[b] = b % 7;
    n.reverse = true; n.act = 0; n.ao = JordanOutActivation::Sigmoid;
    const int64_t TB = n.s.T * n.s.B;
    std::vector<float> r(TB * n.s.O);
    for (auto& e : r) e = u(g);
    std::vector<float> out[2];
    for (int th = 1; th <= 2; th++) {
      set_threads(th);
      std::vector<float> y(TB * n.s.O), yn(n.s.B * n.s.O), cache(jordan_cache_size(n.s));
      jordan_forward({n.in(), n.y0.data(), y.data(), yn.data(), nullptr, cache.data()});
      std::vector<float> dx(TB * n.s.D), dy0(n.s.B * n.s.O), dwih(n.wih.size()), dwhy(n.why.size()),
          dwho(n.who.size()), dbih(n.s.H), dbhh(n.s.H), dbho(n.s.O);
      jordan_backward({n.in(), cache.data(), r.data(), yn.data(), dx.data(), dy0.data(), dwih.data(), dwhy.data(),
                       dwho.data(), dbih.data(), dbhh.data(), dbho.data()});
      for (auto* v : {&y, &yn, &cache, &dx, &dy0, &dwih, &dwhy, &dwho, &dbih, &dbhh, &dbho})
        out[th - 1].insert(out[th - 1].end(), v->begin(), v->end());
    }
    CHECK(out[0].size() == out[1].size() && memcmp(out[0].data(), out[1].data(), out[0].size() * 4) == 0,
          "1 vs 2 threads differ");
  }
  printf("jordan_test: %s\n", check_failures() ? "FAILED" : "ok");
  return check_failures() != 0;
}
