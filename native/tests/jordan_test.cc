// jordan_test.cc: the Jordan network kernels (jordan.h) under every compiled ISA: forward outputs,
// the fed-back output, h and the cache against a plain double-precision reference on shapes that
// leave SIMD tails (H, O = 1, 7, 9, 33, 257); backward against central differences of that
// reference and of the float kernel itself (L = sum r . y + sum r_n . y_n), with lengths and
// reverse; 1, 2 and 3 threads bit-identical; the cache view's blocks.
#include <math.h>
#include <string.h>

#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "dispatch.h"
#include "jordan.h"
#include "pool.h"

using namespace gated;

namespace {

struct Net {
  JordanShape s;
  std::vector<float> x, wih, why, who, bih, bhh, bho, y0;
  std::vector<int32_t> len;  // empty: all T
  bool reverse = false;
  int act = 0;
  JordanOutActivation ao = JordanOutActivation::Tanh;
  JordanInputs in() const {
    return {s,          x.data(),   wih.data(),
            why.data(), who.data(), bih.data(),
            bhh.data(), bho.data(), len.empty() ? nullptr : len.data(),
            reverse,    act,        ao};
  }
  int64_t len_of(int64_t b) const { return len.empty() ? s.T : len[b]; }
};

Net make_net(std::mt19937& g, JordanShape s, bool lengths, bool reverse, int act, JordanOutActivation ao) {
  std::uniform_real_distribution<float> u(-0.6f, 0.6f);
  Net n;
  n.s = s;
  auto fill = [&](std::vector<float>& v, int64_t k) {
    v.resize(k);
    for (auto& e : v) e = u(g);
  };
  fill(n.x, s.T * s.B * s.D);
  fill(n.wih, s.H * s.D);
  fill(n.why, s.H * s.O);
  fill(n.who, s.O * s.H);
  fill(n.bih, s.H);
  fill(n.bhh, s.H);
  fill(n.bho, s.O);
  fill(n.y0, s.B * s.O);
  if (lengths) {
    n.len.resize(s.B);
    for (int64_t b = 0; b < s.B; b++) n.len[b] = (int32_t)((b * 5 + 3) % (s.T + 1));
    if (s.B > 1) n.len[1] = (int32_t)s.T;
  }
  n.reverse = reverse;
  n.act = act;
  n.ao = ao;
  return n;
}

// Every output of one forward + backward.
struct Run {
  std::vector<float> y, yn, h, cache, dx, dy0, dwih, dwhy, dwho, dbih, dbhh, dbho;
  std::vector<std::vector<float>*> all() {
    return {&y, &yn, &h, &cache, &dx, &dy0, &dwih, &dwhy, &dwho, &dbih, &dbhh, &dbho};
  }
};

const float kPoison = 12345.0f;  // every output must be overwritten

Run run(const Net& n, const std::vector<float>& r, const std::vector<float>& rn) {
  const int64_t TB = n.s.T * n.s.B;
  Run o;
  o.y.assign(TB * n.s.O, kPoison);
  o.yn.assign(n.s.B * n.s.O, kPoison);
  o.h.assign(TB * n.s.H, kPoison);
  o.cache.assign(JordanCacheView<>::floats(n.s), kPoison);
  jordan_forward({n.in(), n.y0.data(), o.y.data(), o.yn.data(), o.h.data(), o.cache.data()});
  o.dx.assign(TB * n.s.D, kPoison);
  o.dy0.assign(n.s.B * n.s.O, kPoison);
  o.dwih.assign(n.wih.size(), kPoison);
  o.dwhy.assign(n.why.size(), kPoison);
  o.dwho.assign(n.who.size(), kPoison);
  o.dbih.assign(n.s.H, kPoison);
  o.dbhh.assign(n.s.H, kPoison);
  o.dbho.assign(n.s.O, kPoison);
  jordan_backward({n.in(), o.cache.data(), r.data(), rn.data(), o.dx.data(), o.dy0.data(), o.dwih.data(),
                   o.dwhy.data(), o.dwho.data(), o.dbih.data(), o.dbhh.data(), o.dbho.data()});
  return o;
}

// ---- the double-precision reference: one sequence and one unit at a time ----

struct DNet {  // the parameters in double; what the finite differences perturb
  std::vector<double> x, wih, why, who, bih, bhh, bho, y0;
};
std::vector<double> to_d(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }
DNet d_net(const Net& n) {
  return {to_d(n.x),   to_d(n.wih), to_d(n.why), to_d(n.who),
          to_d(n.bih), to_d(n.bhh), to_d(n.bho), to_d(n.y0)};
}

struct DOut {
  std::vector<double> y, yn, h, cache;
};

DOut ref_forward(const Net& n, const DNet& w) {
  const int64_t T = n.s.T, B = n.s.B, D = n.s.D, H = n.s.H, O = n.s.O, TB = T * B;
  DOut o;
  o.y.assign(TB * O, 0.0);
  o.h.assign(TB * H, 0.0);
  o.cache.assign(JordanCacheView<>::floats(n.s), 0.0);
  o.yn.assign(B * O, 0.0);
  // Block offsets in cache order: [yPrev O | h H | y O], each [T*B, width].
  const int64_t off_h = TB * O, off_y = TB * (O + H);
  std::vector<double> yr(O), hs(H);
  for (int64_t b = 0; b < B; b++) {
    for (int64_t k = 0; k < O; k++) yr[k] = w.y0[b * O + k];
    const int64_t len = n.len_of(b);
    for (int64_t s = 0; s < len; s++) {
      const int64_t t = n.reverse ? len - 1 - s : s, r = t * B + b;
      for (int64_t j = 0; j < H; j++) {
        double v = w.bih[j] + w.bhh[j];
        for (int64_t d = 0; d < D; d++) v += w.wih[j * D + d] * w.x[r * D + d];
        for (int64_t k = 0; k < O; k++) v += w.why[j * O + k] * yr[k];
        hs[j] = n.act == 1 ? (v > 0 ? v : 0) : tanh(v);
        o.h[r * H + j] = hs[j];
        o.cache[off_h + r * H + j] = hs[j];
      }
      for (int64_t k = 0; k < O; k++) {
        o.cache[r * O + k] = yr[k];
        double z = w.bho[k];
        for (int64_t j = 0; j < H; j++) z += w.who[k * H + j] * hs[j];
        const double v = n.ao == JordanOutActivation::Tanh      ? tanh(z)
                         : n.ao == JordanOutActivation::Sigmoid ? 1.0 / (1.0 + exp(-z))
                                                                : z;
        yr[k] = v;
        o.y[r * O + k] = v;
        o.cache[off_y + r * O + k] = v;
      }
    }
    for (int64_t k = 0; k < O; k++) o.yn[b * O + k] = yr[k];
  }
  return o;
}

double ref_loss(const Net& n, const DNet& w, const std::vector<float>& r, const std::vector<float>& rn) {
  const DOut o = ref_forward(n, w);
  double l = 0;
  for (size_t i = 0; i < o.y.size(); i++) l += r[i] * o.y[i];
  for (size_t i = 0; i < o.yn.size(); i++) l += rn[i] * o.yn[i];
  return l;
}

void check_close(const std::string& what, const std::vector<float>& got, const std::vector<double>& want,
                 double tol) {
  CHECK(got.size() == want.size(), "%s: %zu elements, want %zu", what.c_str(), got.size(), want.size());
  for (size_t i = 0; i < got.size() && i < want.size(); i++)
    CHECK(fabs(got[i] - want[i]) <= tol * (1 + fabs(want[i])), "%s[%zu]: got %.9g want %.9g", what.c_str(), i,
          (double)got[i], want[i]);
}

// Forward against the reference in full; every gradient against central differences of the
// reference (all elements, or `max_n` sampled ones of a large parameter).
void check_against_reference(const char* isa, const Net& n, size_t max_n, std::mt19937& g) {
  const std::string name = std::string(isa) + " T=" + std::to_string(n.s.T) + " B=" + std::to_string(n.s.B) +
                           " D=" + std::to_string(n.s.D) + " H=" + std::to_string(n.s.H) +
                           " O=" + std::to_string(n.s.O) + " act=" + std::to_string(n.act) + "/" +
                           std::to_string((int)n.ao) + (n.len.empty() ? "" : " lengths") +
                           (n.reverse ? " rev" : "");
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> r(n.s.T * n.s.B * n.s.O), rn(n.s.B * n.s.O);
  for (auto& e : r) e = u(g);
  for (auto& e : rn) e = u(g);
  Run o = run(n, r, rn);
  DNet w = d_net(n);
  const DOut want = ref_forward(n, w);
  check_close(name + " y", o.y, want.y, 2e-6);
  check_close(name + " yN", o.yn, want.yn, 2e-6);
  check_close(name + " h", o.h, want.h, 2e-6);
  check_close(name + " cache", o.cache, want.cache, 2e-6);
  // Inference (no cache) gives the same bits.
  std::vector<float> yi(o.y.size()), yni(o.yn.size());
  jordan_forward({n.in(), n.y0.data(), yi.data(), yni.data(), nullptr, nullptr});
  CHECK(yi == o.y && yni == o.yn, "%s: inference differs from a forward that keeps its cache", name.c_str());

  struct P {
    std::vector<double> DNet::*field;
    const std::vector<float>* grad;
    const char* name;
  };
  for (const P& p :
       {P{&DNet::x, &o.dx, "dx"}, P{&DNet::wih, &o.dwih, "dw_ih"}, P{&DNet::why, &o.dwhy, "dw_hy"},
        P{&DNet::who, &o.dwho, "dw_ho"}, P{&DNet::bih, &o.dbih, "db_ih"}, P{&DNet::bhh, &o.dbhh, "db_hh"},
        P{&DNet::bho, &o.dbho, "db_ho"}, P{&DNet::y0, &o.dy0, "dy0"}}) {
    std::vector<double>& v = w.*p.field;
    const size_t step = v.size() > max_n ? v.size() / max_n + 1 : 1;
    for (size_t i = 0; i < v.size(); i += step) {
      const double v0 = v[i], eps = 1e-6;
      v[i] = v0 + eps;
      const double up = ref_loss(n, w, r, rn);
      v[i] = v0 - eps;
      const double dn = ref_loss(n, w, r, rn);
      v[i] = v0;
      const double num = (up - dn) / (2 * eps);
      CHECK(fabs(num - (*p.grad)[i]) < 2e-5 + 1e-3 * fabs(num), "%s %s[%zu]: analytic %g numeric %g",
            name.c_str(), p.name, i, (*p.grad)[i], num);
    }
  }
}

// Central differences of the float kernel's own forward (a weaker check, kept from the first version
// of this test), plus the documented masking.
double float_loss(const Net& n, const std::vector<float>& r) {
  std::vector<float> y(n.s.T * n.s.B * n.s.O), yn(n.s.B * n.s.O);
  jordan_forward({n.in(), n.y0.data(), y.data(), yn.data(), nullptr, nullptr});
  double l = 0;
  for (size_t i = 0; i < y.size(); i++) l += (double)r[i] * y[i];
  return l;
}

void check_float_differences(const char* isa, std::mt19937& g) {
  std::uniform_real_distribution<float> u(-0.6f, 0.6f);
  for (int cfg = 0; cfg < 4; cfg++) {
    Net n = make_net(g, {4, 3, 2, 5, 3}, false, cfg & 1, (cfg >> 1) & 1, (JordanOutActivation)(cfg % 3));
    n.len = {4, 2, 0};
    const int64_t TB = n.s.T * n.s.B;
    std::vector<float> r(TB * n.s.O), rn(n.s.B * n.s.O, 0.0f);
    for (auto& e : r) e = u(g);
    Run o = run(n, r, rn);
    // An empty sequence keeps y0; masked rows are zero.
    for (int k = 0; k < n.s.O; k++)
      CHECK(o.yn[2 * n.s.O + k] == n.y0[2 * n.s.O + k], "%s yN of an empty sequence", isa);
    for (int t = 2; t < 4; t++) CHECK(o.y[(t * 3 + 1) * n.s.O] == 0.0f, "%s masked row zero", isa);
    struct T {
      std::vector<float>* v;
      std::vector<float>* gv;
      const char* name;
    };
    for (T t : {T{&n.x, &o.dx, "x"}, T{&n.wih, &o.dwih, "w_ih"}, T{&n.why, &o.dwhy, "w_hy"},
                T{&n.who, &o.dwho, "w_ho"}, T{&n.bih, &o.dbih, "b_ih"}, T{&n.bhh, &o.dbhh, "b_hh"},
                T{&n.bho, &o.dbho, "b_ho"}, T{&n.y0, &o.dy0, "y0"}}) {
      for (size_t i = 0; i < t.v->size(); i++) {
        const float s = (*t.v)[i], eps = 1e-2f;
        (*t.v)[i] = s + eps;
        const double up = float_loss(n, r);
        (*t.v)[i] = s - eps;
        const double dn = float_loss(n, r);
        (*t.v)[i] = s;
        const double num = (up - dn) / (2 * eps);
        CHECK(fabs(num - (*t.gv)[i]) < 2e-3 + 2e-2 * fabs(num), "%s cfg %d %s[%zu]: analytic %g numeric %g",
              isa, cfg, t.name, i, (*t.gv)[i], num);
      }
    }
  }
}

// 1, 2 and 3 threads: every output bit-identical (shapes whose steps split across threads: B*H*O
// >= 2^15, seq::step_threads; O = 40 and 37 split the outputs too).
void check_threads(const char* isa, std::mt19937& g) {
  const int saved = get_threads();
  for (JordanShape s :
       {JordanShape{6, 48, 30, 70, 11}, JordanShape{9, 33, 40, 96, 40}, JordanShape{12, 5, 3, 300, 37}}) {
    Net n = make_net(g, s, true, true, 0, JordanOutActivation::Sigmoid);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> r(s.T * s.B * s.O), rn(s.B * s.O);
    for (auto& e : r) e = u(g);
    for (auto& e : rn) e = u(g);
    set_threads(1);
    Run a = run(n, r, rn);
    for (int th : {2, 3}) {
      set_threads(th);
      Run b = run(n, r, rn);
      auto av = a.all(), bv = b.all();
      for (size_t k = 0; k < av.size(); k++)
        CHECK(*av[k] == *bv[k], "%s H=%lld O=%lld: output %zu differs between 1 and %d threads", isa,
              (long long)s.H, (long long)s.O, k, th);
    }
  }
  set_threads(saved);
}

// JordanCacheView: the blocks at the offsets [yPrev O | h H | y O] (in T*B floats), tiling floats().
void check_view() {
  for (JordanShape s : {JordanShape{1, 1, 1, 1, 1}, JordanShape{5, 3, 2, 9, 4}, JordanShape{4, 2, 1, 0, 3},
                        JordanShape{0, 2, 1, 3, 3}}) {
    const int64_t TB = s.T * s.B;
    std::vector<float> buf(JordanCacheView<>::floats(s) + 1);
    const float* base = buf.data();
    const JordanCacheView<> v(base, s);
    CHECK(v.y_prev == base && v.h == base + TB * s.O && v.y == base + TB * (s.O + s.H),
          "jordan view offsets");
    CHECK(v.blocks.count() == 3 && v.blocks[0].data == v.y_prev && v.blocks[1].data == v.h &&
              v.blocks[2].data == v.y,
          "jordan view blocks");
    CHECK(v.blocks[2].data + TB * v.blocks[2].width == base + JordanCacheView<>::floats(s),
          "jordan view tiles floats()");
    CHECK(JordanCacheView<>::floats(s) == TB * (2 * s.O + s.H), "jordan floats()");
    const JordanCacheView<> z(nullptr, s);
    CHECK(!z.y_prev && !z.h && !z.y, "jordan view of a null cache");
  }
}

}  // namespace

int main() {
  check_view();
  int isas = 0;
  for (const char* isa : {"scalar", "avx2", "avx512", "neon"}) {
    if (!set_isa(isa)) continue;
    isas++;
    std::mt19937 g(5);
    check_float_differences(isa, g);
    const JordanShape shapes[] = {{1, 1, 1, 1, 1}, {4, 3, 2, 5, 3},  {7, 3, 9, 33, 7},
                                  {5, 9, 1, 7, 1}, {3, 2, 4, 9, 17}, {3, 1, 2, 257, 3},
                                  {2, 2, 3, 0, 2}, {3, 2, 3, 4, 0},  {12, 4, 5, 20, 9}};
    int k = 0;
    for (JordanShape s : shapes)
      for (int act = 0; act < 2; act++)
        for (int ao = 0; ao < 3; ao++, k++) {
          Net n = make_net(g, s, k % 3 != 0, k % 2 == 1, act, (JordanOutActivation)ao);
          check_against_reference(isa, n, s.H >= 100 ? 40 : 100000, g);
        }
    check_threads(isa, g);
  }
  set_isa(best_isa());
  CHECK(isas >= 1, "no ISA available");
  printf("jordan_test: %d ISAs, %s\n", isas, check_failures() ? "FAILED" : "ok");
  return check_failures() != 0;
}
