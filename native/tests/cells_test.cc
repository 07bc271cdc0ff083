// cells_test.cc: RNN / LSTM / GRU whole-sequence forward and backward against a naive per-step
// double-precision implementation (forward outputs and the cache, element by element) and against
// central finite differences of that implementation (every gradient); 1 vs 2 threads bit-identical;
// inference batch-invariant (a row alone gives the bits it gets among up to 64 others); all of it
// under every ISA this machine runs; scalar vs vector kernels close, AVX2 vs AVX-512 bit-identical.
// Shapes leave SIMD tails (H = 1, 9, 257) and hit every option.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <algorithm>
#include <array>
#include <utility>
#include <string>
#include <vector>

#include "cells.h"
#include "dispatch.h"
#include "isas.h"
#include "pool.h"

using namespace gated;

namespace {

int g_failures = 0;
int g_checks = 0;

enum Cell { RNN_TANH, RNN_RELU, LSTM, GRU_AFTER, GRU_BEFORE };
const char* cell_name(Cell c) {
  static const char* n[] = {"rnn_tanh", "rnn_relu", "lstm", "gru_after", "gru_before"};
  return n[c];
}
int64_t gates_of(Cell c) {
  return c == LSTM ? kLstmGates : (c == GRU_AFTER || c == GRU_BEFORE) ? kGruGates : kRnnGates;
}

struct Config {
  Cell cell;
  int64_t T, B, D, H;
  bool lengths;  // use a lengths array (with a 0 and a T among them when B allows)
  bool reverse;
  int bias;     // 0 none, 1 both, 2 b_ih only
  bool peep;    // LSTM only
  bool state0;  // pass h0 (and c0)
  bool douts;   // pass dy, dh_n, dc_n (otherwise dy null, dh_n / dc_n given)
  std::string name() const {
    char buf[200];
    snprintf(buf, sizeof buf, "%s T=%lld B=%lld D=%lld H=%lld len=%d rev=%d bias=%d peep=%d h0=%d dy=%d",
             cell_name(cell), (long long)T, (long long)B, (long long)D, (long long)H, lengths, reverse, bias,
             peep, state0, douts);
    return buf;
  }
};

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  double next() {  // uniform [-1, 1)
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return (double)(s >> 11) / (double)(1ull << 52) - 1.0;
  }
};

// Every input and output-gradient of one problem, in float (what the kernels see).
struct Problem {
  Config c;
  std::vector<float> x, w_ih, w_hh, b_ih, b_hh, h0, c0, peep, dy, dh_n, dc_n;
  std::vector<int32_t> len;
};

Problem make_problem(const Config& c, uint64_t seed) {
  Problem p;
  p.c = c;
  Rng r(seed);
  const int64_t G = gates_of(c.cell), T = c.T, B = c.B, D = c.D, H = c.H;
  auto fill = [&](std::vector<float>& v, int64_t n, double scale) {
    v.resize((size_t)n);
    for (auto& e : v) e = (float)(scale * r.next());
  };
  const double ws = 1.0 / sqrt((double)(H > 0 ? H : 1));  // PyTorch init: stable dynamics
  fill(p.x, T * B * D, 1.0);
  fill(p.w_ih, G * H * D, ws);
  fill(p.w_hh, G * H * H, ws);
  fill(p.b_ih, G * H, 0.5);
  fill(p.b_hh, G * H, 0.5);
  fill(p.h0, B * H, 0.8);
  fill(p.c0, B * H, 0.8);
  fill(p.peep, 3 * H, 0.5);
  fill(p.dy, T * B * H, 1.0);
  fill(p.dh_n, B * H, 1.0);
  fill(p.dc_n, B * H, 1.0);
  if (c.lengths) {
    p.len.resize((size_t)B);
    for (int64_t b = 0; b < B; b++) {
      int64_t l = (int64_t)((r.next() + 1.0) * 0.5 * (double)(T + 1));
      p.len[b] = (int32_t)(l > T ? T : l);
    }
    if (B > 0) p.len[0] = 0;
    if (B > 1) p.len[1] = (int32_t)T;
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// The naive reference: one sequence at a time, one step at a time, in double.

struct DParams {
  std::vector<double> x, w_ih, w_hh, b_ih, b_hh, h0, c0, peep;
};
std::vector<double> to_d(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }
DParams d_params(const Problem& p) {
  DParams d{to_d(p.x),    to_d(p.w_ih), to_d(p.w_hh), to_d(p.b_ih),
            to_d(p.b_hh), to_d(p.h0),   to_d(p.c0),   to_d(p.peep)};
  if (p.c.bias == 0) std::fill(d.b_ih.begin(), d.b_ih.end(), 0.0);
  if (p.c.bias != 1) std::fill(d.b_hh.begin(), d.b_hh.end(), 0.0);
  if (!p.c.state0) {
    std::fill(d.h0.begin(), d.h0.end(), 0.0);
    std::fill(d.c0.begin(), d.c0.end(), 0.0);
  }
  if (!p.c.peep) std::fill(d.peep.begin(), d.peep.end(), 0.0);
  return d;
}

double dsig(double v) { return 1.0 / (1.0 + exp(-v)); }

int64_t cache_size(const Config& c) {
  if (c.cell == LSTM) return LstmCacheView<>::floats(c.T, c.B, c.H);
  if (c.cell == GRU_AFTER || c.cell == GRU_BEFORE) return GruCacheView<>::floats(c.T, c.B, c.H);
  return RnnCacheView<>::floats(c.T, c.B, c.H);
}

struct DOut {
  std::vector<double> y, h_n, c_n, cache;
};

DOut naive_forward(const Problem& p, const DParams& w) {
  const Config& c = p.c;
  const int64_t T = c.T, B = c.B, D = c.D, H = c.H, G = gates_of(c.cell), TB = T * B;
  DOut o;
  o.y.assign((size_t)(TB * H), 0.0);
  o.h_n.assign((size_t)(B * H), 0.0);
  o.c_n.assign((size_t)(B * H), 0.0);
  o.cache.assign((size_t)cache_size(c), 0.0);
  // Block offsets and widths in cache order.
  std::vector<int64_t> widths;
  if (c.cell == LSTM)
    widths = {4 * H, H, H, H, H};
  else if (G == 3)
    widths = {3 * H, H, H};
  else
    widths = {H, H};
  std::vector<int64_t> base(widths.size());
  int64_t acc = 0;
  for (size_t k = 0; k < widths.size(); k++) {
    base[k] = acc;
    acc += TB * widths[k];
  }
  auto crow = [&](size_t blk, int64_t row) { return &o.cache[(size_t)(base[blk] + row * widths[blk])]; };
  std::vector<double> h(H), cs(H), xa(G * H), ha(G * H), hn(H), cn(H);
  for (int64_t b = 0; b < B; b++) {
    const int64_t len = p.len.empty() ? T : p.len[b];
    for (int64_t j = 0; j < H; j++) {
      h[j] = w.h0[b * H + j];
      cs[j] = w.c0[b * H + j];
    }
    for (int64_t s = 0; s < len; s++) {
      const int64_t t = c.reverse ? len - 1 - s : s, row = t * B + b;
      for (int64_t k = 0; k < G * H; k++) {
        double v = w.b_ih[k];
        for (int64_t d = 0; d < D; d++) v += w.w_ih[k * D + d] * w.x[row * D + d];
        xa[k] = v;
        double u = w.b_hh[k];
        for (int64_t q = 0; q < H; q++) u += w.w_hh[k * H + q] * h[q];
        ha[k] = u;
      }
      if (G == 1) {
        for (int64_t j = 0; j < H; j++) {
          double v = xa[j] + ha[j];
          hn[j] = c.cell == RNN_RELU ? (v > 0 ? v : 0) : tanh(v);
          crow(0, row)[j] = h[j];
          crow(1, row)[j] = hn[j];
        }
      } else if (c.cell == LSTM) {
        for (int64_t j = 0; j < H; j++) {
          double i = dsig(xa[j] + ha[j] + w.peep[j] * cs[j]);
          double f = dsig(xa[H + j] + ha[H + j] + w.peep[2 * H + j] * cs[j]);
          double g = tanh(xa[2 * H + j] + ha[2 * H + j]);
          cn[j] = f * cs[j] + i * g;
          double og = dsig(xa[3 * H + j] + ha[3 * H + j] + w.peep[H + j] * cn[j]);
          hn[j] = og * tanh(cn[j]);
          double* gr = crow(0, row);
          gr[j] = i;
          gr[H + j] = f;
          gr[2 * H + j] = g;
          gr[3 * H + j] = og;
          crow(1, row)[j] = h[j];
          crow(2, row)[j] = cs[j];
          crow(3, row)[j] = cn[j];
          crow(4, row)[j] = tanh(cn[j]);
        }
        cs = cn;
      } else {
        std::vector<double> r(H), z(H), hnv(H);
        for (int64_t j = 0; j < H; j++) {
          r[j] = dsig(xa[j] + ha[j]);
          z[j] = dsig(xa[H + j] + ha[H + j]);
        }
        for (int64_t j = 0; j < H; j++) {
          double n;
          if (c.cell == GRU_AFTER) {
            hnv[j] = ha[2 * H + j];
            n = tanh(xa[2 * H + j] + r[j] * hnv[j]);
          } else {
            double u = w.b_hh[2 * H + j];
            for (int64_t q = 0; q < H; q++) u += w.w_hh[(2 * H + j) * H + q] * r[q] * h[q];
            hnv[j] = r[j] * h[j];
            n = tanh(xa[2 * H + j] + u);
          }
          hn[j] = (1 - z[j]) * n + z[j] * h[j];
          double* gr = crow(0, row);
          gr[j] = r[j];
          gr[H + j] = z[j];
          gr[2 * H + j] = n;
          crow(1, row)[j] = h[j];
          crow(2, row)[j] = hnv[j];
        }
      }
      for (int64_t j = 0; j < H; j++) o.y[row * H + j] = hn[j];
      h = hn;
    }
    for (int64_t j = 0; j < H; j++) {
      o.h_n[b * H + j] = h[j];
      o.c_n[b * H + j] = cs[j];
    }
  }
  return o;
}

double naive_loss(const Problem& p, const DParams& w) {
  DOut o = naive_forward(p, w);
  double L = 0;
  if (p.c.douts)
    for (size_t k = 0; k < o.y.size(); k++) L += p.dy[k] * o.y[k];
  for (size_t k = 0; k < o.h_n.size(); k++) L += p.dh_n[k] * o.h_n[k];
  if (p.c.cell == LSTM)
    for (size_t k = 0; k < o.c_n.size(); k++) L += p.dc_n[k] * o.c_n[k];
  return L;
}

// ---------------------------------------------------------------------------------------------
// The kernels under test.

struct FOut {
  std::vector<float> y, h_n, c_n, cache;
};
struct Grads {
  std::vector<float> dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dpeep;
};

SeqInputs seq_inputs(const Problem& p) {
  const Config& c = p.c;
  SeqInputs in;
  in.s = SeqShape{c.T, c.B, c.D, c.H};
  in.x = p.x.data();
  in.w_ih = p.w_ih.data();
  in.w_hh = p.w_hh.data();
  in.b_ih = c.bias ? p.b_ih.data() : nullptr;
  in.b_hh = c.bias == 1 ? p.b_hh.data() : nullptr;
  in.lengths = p.len.empty() ? nullptr : p.len.data();
  in.reverse = c.reverse;
  return in;
}

const float kPoison = 12345.0f;  // outputs are pre-filled with it: every one must be overwritten

// keep_cache false: inference mode (cache nullptr); o.cache stays empty.
FOut run_forward(const Problem& p, bool keep_cache = true) {
  const Config& c = p.c;
  FOut o;
  o.y.assign((size_t)(c.T * c.B * c.H), kPoison);
  o.h_n.assign((size_t)(c.B * c.H), kPoison);
  o.c_n.assign((size_t)(c.B * c.H), c.cell == LSTM ? kPoison : 0.0f);
  if (keep_cache) o.cache.assign((size_t)cache_size(c), kPoison);
  float* cache = keep_cache ? o.cache.data() : nullptr;
  SeqInputs in = seq_inputs(p);
  const float* h0 = c.state0 ? p.h0.data() : nullptr;
  if (c.cell == LSTM) {
    LstmForwardArgs a{in,           c.peep ? p.peep.data() : nullptr,
                      h0,           c.state0 ? p.c0.data() : nullptr,
                      o.y.data(),   o.h_n.data(),
                      o.c_n.data(), cache};
    lstm_forward(a);
  } else if (gates_of(c.cell) == 3) {
    GruForwardArgs a{in, c.cell == GRU_AFTER, h0, o.y.data(), o.h_n.data(), cache};
    gru_forward(a);
  } else {
    RnnForwardArgs a{in,           c.cell == RNN_RELU ? RnnActivation::Relu : RnnActivation::Tanh,
                     h0,           o.y.data(),
                     o.h_n.data(), cache};
    rnn_forward(a);
  }
  return o;
}

Grads run_backward(const Problem& p, const std::vector<float>& cache) {
  const Config& c = p.c;
  const int64_t G = gates_of(c.cell), H = c.H, D = c.D;
  Grads g;
  g.dx.assign((size_t)(c.T * c.B * D), kPoison);
  g.dh0.assign((size_t)(c.B * H), kPoison);
  g.dc0.assign((size_t)(c.B * H), c.cell == LSTM ? kPoison : 0.0f);
  g.dw_ih.assign((size_t)(G * H * D), kPoison);
  g.dw_hh.assign((size_t)(G * H * H), kPoison);
  g.db_ih.assign((size_t)(G * H), c.bias ? kPoison : 0.0f);
  g.db_hh.assign((size_t)(G * H), c.bias == 1 ? kPoison : 0.0f);
  g.dpeep.assign((size_t)(3 * H), c.peep ? kPoison : 0.0f);
  SeqInputs in = seq_inputs(p);
  SeqGrads sg{g.dx.data(),
              g.dh0.data(),
              g.dw_ih.data(),
              g.dw_hh.data(),
              c.bias ? g.db_ih.data() : nullptr,
              c.bias == 1 ? g.db_hh.data() : nullptr};
  const float* dy = c.douts ? p.dy.data() : nullptr;
  if (c.cell == LSTM) {
    LstmBackwardArgs a{
        in,           c.peep ? p.peep.data() : nullptr, cache.data(), dy, p.dh_n.data(), p.dc_n.data(), sg,
        g.dc0.data(), c.peep ? g.dpeep.data() : nullptr};
    lstm_backward(a);
  } else if (G == 3) {
    GruBackwardArgs a{in, c.cell == GRU_AFTER, cache.data(), dy, p.dh_n.data(), sg};
    gru_backward(a);
  } else {
    RnnBackwardArgs a{
        in, c.cell == RNN_RELU ? RnnActivation::Relu : RnnActivation::Tanh, cache.data(), dy, p.dh_n.data(),
        sg};
    rnn_backward(a);
  }
  return g;
}

// ---------------------------------------------------------------------------------------------
// Comparisons.

// |got - want| <= atol + rtol |want| for all; reports the worst element.
bool check_close(const std::string& what, const float* got, const double* want, size_t n, double atol,
                 double rtol) {
  g_checks++;
  double worst = 0;
  size_t wi = 0;
  bool ok = true;
  for (size_t k = 0; k < n; k++) {
    double err = fabs((double)got[k] - want[k]);
    double lim = atol + rtol * fabs(want[k]);
    if (!(err <= lim)) {
      ok = false;
      if (!(err / lim <= worst)) {
        worst = err / lim;
        wi = k;
      }
    }
  }
  if (!ok) {
    g_failures++;
    printf("FAIL %s: [%zu] got %.9g want %.9g (%zu elements)\n", what.c_str(), wi, (double)got[wi], want[wi],
           n);
  }
  return ok;
}

bool check_bits(const std::string& what, const std::vector<float>& a, const std::vector<float>& b) {
  g_checks++;
  if (a.size() == b.size() && (a.empty() || memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0))
    return true;
  g_failures++;
  printf("FAIL %s: not bit-identical\n", what.c_str());
  return false;
}

void check_forward(const Problem& p) {
  const std::string n = p.c.name();
  DOut want = naive_forward(p, d_params(p));
  FOut got = run_forward(p);
  const double tol = 2e-5;
  check_close(n + " y", got.y.data(), want.y.data(), want.y.size(), tol, tol);
  check_close(n + " h_n", got.h_n.data(), want.h_n.data(), want.h_n.size(), tol, tol);
  if (p.c.cell == LSTM) check_close(n + " c_n", got.c_n.data(), want.c_n.data(), want.c_n.size(), tol, tol);
  check_close(n + " cache", got.cache.data(), want.cache.data(), want.cache.size(), tol, tol);
  // Inference (no cache): the same bits for every output. Run twice: the second call reuses the
  // thread's workspace arena, which then holds the first call's values, not fresh memory.
  for (int rep = 0; rep < 2; rep++) {
    FOut inf = run_forward(p, false);
    const std::string r = n + " inference#" + std::to_string(rep);
    check_bits(r + " y", inf.y, got.y);
    check_bits(r + " h_n", inf.h_n, got.h_n);
    check_bits(r + " c_n", inf.c_n, got.c_n);
  }
}

// Central differences of the double loss w.r.t. `max_n` elements of one parameter (all when it has
// fewer), compared with the analytic gradient.
void check_grad(const Problem& p, const std::string& what, std::vector<double> DParams::*field,
                const std::vector<float>& analytic, int64_t max_n, uint64_t seed) {
  DParams w = d_params(p);
  std::vector<double>& v = w.*field;
  const size_t n = v.size();
  if (n == 0) return;
  std::vector<size_t> idx;
  if ((int64_t)n <= max_n) {
    for (size_t k = 0; k < n; k++) idx.push_back(k);
  } else {
    Rng r(seed);
    for (int64_t k = 0; k < max_n; k++) idx.push_back((size_t)((r.next() + 1.0) * 0.5 * (double)n) % n);
  }
  std::vector<double> fd(idx.size());
  std::vector<float> got(idx.size());
  double scale = 0;
  const double eps = 1e-6;  // small: relu kinks rarely fall inside [v - eps, v + eps]
  for (size_t q = 0; q < idx.size(); q++) {
    const size_t k = idx[q];
    const double v0 = v[k];
    v[k] = v0 + eps;
    const double lp = naive_loss(p, w);
    v[k] = v0 - eps;
    const double lm = naive_loss(p, w);
    v[k] = v0;
    fd[q] = (lp - lm) / (2 * eps);
    got[q] = analytic[k];
    scale = fabs(fd[q]) > scale ? fabs(fd[q]) : scale;
  }
  check_close(p.c.name() + " " + what, got.data(), fd.data(), idx.size(), 2e-5 * (scale > 1 ? scale : 1),
              1e-3);
}

void check_backward(const Problem& p, int64_t max_n) {
  FOut f = run_forward(p);
  Grads g = run_backward(p, f.cache);
  const Config& c = p.c;
  check_grad(p, "dx", &DParams::x, g.dx, max_n, 1);
  check_grad(p, "dh0", &DParams::h0, g.dh0, max_n, 2);
  if (c.cell == LSTM) check_grad(p, "dc0", &DParams::c0, g.dc0, max_n, 3);
  check_grad(p, "dw_ih", &DParams::w_ih, g.dw_ih, max_n, 4);
  check_grad(p, "dw_hh", &DParams::w_hh, g.dw_hh, max_n, 5);
  if (c.bias) check_grad(p, "db_ih", &DParams::b_ih, g.db_ih, max_n, 6);
  if (c.bias == 1) check_grad(p, "db_hh", &DParams::b_hh, g.db_hh, max_n, 7);
  if (c.peep) check_grad(p, "dw_peep", &DParams::peep, g.dpeep, max_n, 8);
}

std::vector<std::vector<float>> all_outputs(const Problem& p) {
  FOut f = run_forward(p);
  Grads g = run_backward(p, f.cache);
  return {f.y, f.h_n, f.c_n, f.cache, g.dx, g.dh0, g.dc0, g.dw_ih, g.dw_hh, g.db_ih, g.db_hh, g.dpeep};
}

void check_threads(const Problem& p) {
  const int saved = get_threads();
  set_threads(1);
  auto a = all_outputs(p);
  for (int n : {2, 3}) {  // 3: uneven unit splits (and more threads than this machine's cores)
    set_threads(n);
    auto b = all_outputs(p);
    for (size_t k = 0; k < a.size(); k++)
      check_bits(p.c.name() + " threads=" + std::to_string(n) + " output " + std::to_string(k), a[k], b[k]);
  }
  set_threads(saved);
}

// Every vector ISA against the scalar build (close: the scalar build rounds products separately), and
// the vector ISAs against each other (AVX2 and AVX-512 fuse the same operations: bit-identical).
void check_isa(const Problem& p) {
  const std::vector<std::string> isas = test_isas();
  std::vector<std::vector<std::vector<float>>> out;
  for (const std::string& isa : isas) {
    set_isa(isa.c_str());
    out.push_back(all_outputs(p));
  }
  set_isa(best_isa());
  const auto& ref = out.back();  // scalar comes last
  for (size_t i = 0; i + 1 < isas.size(); i++)
    for (size_t k = 0; k < ref.size(); k++) {
      const std::string what = p.c.name() + " output " + std::to_string(k);
      if (i > 0 && isas[i - 1] != "scalar")
        check_bits(what + " " + isas[i] + " vs " + isas[i - 1], out[i][k], out[i - 1][k]);
      std::vector<double> want(ref[k].begin(), ref[k].end());
      double scale = 0;
      for (double v : want) scale = fabs(v) > scale ? fabs(v) : scale;
      check_close(what + " scalar vs " + isas[i], out[i][k].data(), want.data(), want.size(),
                  1e-5 * (scale > 1 ? scale : 1), 1e-5);
    }
}

// Row b of p as a problem of its own (B = 1): its inputs, states, length and output gradients.
Problem row_problem(const Problem& p, int64_t b) {
  const Config& c = p.c;
  Problem q = p;
  q.c.B = 1;
  const int64_t B = c.B, D = c.D, H = c.H;
  auto rows = [&](const std::vector<float>& v, int64_t steps, int64_t width) {
    std::vector<float> r;
    for (int64_t t = 0; t < steps; t++)
      r.insert(r.end(), v.begin() + (t * B + b) * width, v.begin() + (t * B + b + 1) * width);
    return r;
  };
  q.x = rows(p.x, c.T, D);
  q.h0 = rows(p.h0, 1, H);
  q.c0 = rows(p.c0, 1, H);
  if (c.lengths) q.len = {p.len[b]};
  return q;
}

// Inference (no cache): every row's y, h_n, c_n are the bits it gets when run alone.
void check_batch_invariance(const Problem& p) {
  const Config& c = p.c;
  FOut all = run_forward(p, false);
  bool ok = true;
  for (int64_t b = 0; b < c.B && ok; b++) {
    FOut one = run_forward(row_problem(p, b), false);
    for (int64_t t = 0; t < c.T; t++)
      ok = ok && memcmp(one.y.data() + t * c.H, all.y.data() + (t * c.B + b) * c.H, sizeof(float) * c.H) == 0;
    ok = ok && memcmp(one.h_n.data(), all.h_n.data() + b * c.H, sizeof(float) * c.H) == 0;
    ok = ok && memcmp(one.c_n.data(), all.c_n.data() + b * c.H, sizeof(float) * c.H) == 0;
    if (!ok)
      printf("FAIL %s (isa %s): row %lld alone differs from the batch\n", c.name().c_str(), kernels().isa,
             (long long)b);
  }
  g_checks++;
  if (!ok) g_failures++;
}

// Degenerate sizes: nothing out of bounds, outputs as documented.
void check_edges() {
  const Cell cells[] = {RNN_TANH, LSTM, GRU_AFTER, GRU_BEFORE};
  struct Shape {
    int64_t T, B, D, H;
  };
  const Shape shapes[] = {{0, 3, 4, 5}, {3, 0, 4, 5}, {3, 2, 4, 0}, {3, 2, 0, 5}, {0, 0, 0, 0}};
  for (Cell cell : cells)
    for (const Shape& s : shapes)
      for (int lens = 0; lens < 2; lens++) {
        Config c{cell, s.T, s.B, s.D, s.H, lens == 1, false, 1, cell == LSTM, true, true};
        Problem p = make_problem(c, 99);
        FOut f = run_forward(p);
        Grads g = run_backward(p, f.cache);
        const std::string n = c.name() + " edge";
        // h_n = h0 where no step ran; dh0 = dh_n likewise; all weight gradients zero when T*B == 0.
        if (s.T == 0) {
          std::vector<double> h0(p.h0.begin(), p.h0.end()), dhn(p.dh_n.begin(), p.dh_n.end());
          check_close(n + " h_n", f.h_n.data(), h0.data(), h0.size(), 0, 0);
          check_close(n + " dh0", g.dh0.data(), dhn.data(), dhn.size(), 0, 0);
          std::vector<double> zeros(g.dw_hh.size(), 0.0), zi(g.dw_ih.size(), 0.0);
          check_close(n + " dw_hh", g.dw_hh.data(), zeros.data(), zeros.size(), 0, 0);
          check_close(n + " dw_ih", g.dw_ih.data(), zi.data(), zi.size(), 0, 0);
        }
        if (s.H == 0) {
          std::vector<double> zx(g.dx.size(), 0.0);
          check_close(n + " dx", g.dx.data(), zx.data(), zx.size(), 0, 0);
        }
        if (s.T > 0 && s.B > 0 && s.H > 0) {  // D == 0: the general checks apply
          check_forward(p);
          check_backward(p, 1000);
        }
      }
  // Every length 0: h_n = h0, dh0 = dh_n, y and the cache all zero.
  for (Cell cell : cells) {
    Config c{cell, 4, 3, 5, 9, true, true, 1, cell == LSTM, true, true};
    Problem p = make_problem(c, 7);
    for (auto& l : p.len) l = 0;
    check_forward(p);
    check_backward(p, 1000);
    FOut f = run_forward(p);
    Grads g = run_backward(p, f.cache);
    std::vector<double> dhn(p.dh_n.begin(), p.dh_n.end());
    check_close(c.name() + " all-zero lengths dh0", g.dh0.data(), dhn.data(), dhn.size(), 0, 0);
  }
}

// The cache views (cells.h): each named block starts where the drivers' pointer carving put it
// before the views existed (offsets in units of T*B*H, written out here independently), the blocks
// follow each other without gap or overlap and exactly tile floats(); a null base gives null blocks.
template <class View>
void check_view(const char* name, const std::vector<std::pair<const char*, int64_t>>& want, int64_t T,
                int64_t B, int64_t H, std::vector<const float*> (*named)(const View&)) {
  const std::string n = std::string(name) + " view T=" + std::to_string(T) + " B=" + std::to_string(B) +
                        " H=" + std::to_string(H);
  const int64_t TBH = T * B * H;
  std::vector<float> buf((size_t)View::floats(T, B, H) + 1);
  const float* base = buf.data();
  const View v(base, T, B, H);
  const std::vector<const float*> got = named(v);
  auto fail = [&](const std::string& what) {
    g_failures++;
    printf("FAIL %s: %s\n", n.c_str(), what.c_str());
  };
  g_checks++;
  if (got.size() != want.size() || v.blocks.count() != (int)want.size()) fail("block count");
  int64_t units = 0;
  for (size_t i = 0; i < want.size() && i < got.size(); i++) {
    if (got[i] != base + want[i].second * TBH) fail(std::string(want[i].first) + " offset");
    if (v.blocks[(int)i].data != got[i])
      fail(std::string(want[i].first) + " is not block " + std::to_string(i));
    const float* end = v.blocks[(int)i].data + v.blocks.rows() * v.blocks[(int)i].width;
    const float* next = i + 1 < want.size() ? base + want[i + 1].second * TBH : base + View::floats(T, B, H);
    if (end != next) fail(std::string(want[i].first) + " does not end where the next block starts");
    units += v.blocks[(int)i].width;
  }
  if (units != View::kWidth * H) fail("block widths do not sum to kWidth * H");
  if (View::floats(T, B, H) != View::kWidth * TBH) fail("floats() != kWidth * T*B*H");
  const View null_view(nullptr, T, B, H);
  for (const float* p : named(null_view))
    if (p) fail("a null base gave a non-null block");
}

void check_views() {
  for (const auto& s :
       std::vector<std::array<int64_t, 3>>{{1, 1, 1}, {5, 3, 9}, {7, 2, 257}, {0, 3, 4}, {2, 0, 3}}) {
    const int64_t T = s[0], B = s[1], H = s[2];
    check_view<RnnCacheView<>>("rnn", {{"h_prev", 0}, {"h", 1}}, T, B, H, [](const RnnCacheView<>& v) {
      return std::vector<const float*>{v.h_prev, v.h};
    });
    check_view<LstmCacheView<>>(
        "lstm", {{"gates", 0}, {"h_prev", 4}, {"c_prev", 5}, {"c", 6}, {"tanh_c", 7}}, T, B, H,
        [](const LstmCacheView<>& v) {
          return std::vector<const float*>{v.gates, v.h_prev, v.c_prev, v.c, v.tanh_c};
        });
    check_view<GruCacheView<>>("gru", {{"gates", 0}, {"h_prev", 3}, {"hn", 4}}, T, B, H,
                               [](const GruCacheView<>& v) {
                                 return std::vector<const float*>{v.gates, v.h_prev, v.hn};
                               });
  }
  g_checks++;
  if (RnnCacheView<>::kWidth != 2 || LstmCacheView<>::kWidth != 8 || GruCacheView<>::kWidth != 5 ||
      kRnnGates != 1 || kLstmGates != 4 || kGruGates != 3) {
    g_failures++;
    printf(
        "FAIL cache widths / gate counts changed (lib/backend/types.ts cacheWidth and saved caches rely on "
        "them)\n");
  }
}

}  // namespace

int main() {
  const Cell cells[] = {RNN_TANH, RNN_RELU, LSTM, GRU_AFTER, GRU_BEFORE};
  const int64_t small[][4] = {{5, 3, 7, 9}, {1, 1, 1, 1}, {3, 2, 5, 1}, {4, 3, 1, 17}};
  int configs = 0;
  check_views();
  std::string ran;
  for (const std::string& isa : test_isas()) {
    set_isa(isa.c_str());
    ran += (ran.empty() ? "" : ", ") + isa;
    // (1) + (2): forward against the naive double implementation, every gradient against finite
    // differences, on small shapes and every option combination.
    for (Cell cell : cells)
      for (const auto& sh : small)
        for (int lens = 0; lens < 2; lens++)
          for (int rev = 0; rev < 2; rev++)
            for (int bias = 0; bias < 3; bias++)
              for (int peep = 0; peep < (cell == LSTM ? 2 : 1); peep++) {
                // The state / dy options alternate with the others to keep the count down.
                const bool state0 = ((lens + rev + bias) & 1) == 0;
                const bool douts = ((rev + bias + peep) % 3) != 2;
                Config c{cell,     sh[0], sh[1],     sh[2],  sh[3], lens == 1,
                         rev == 1, bias,  peep == 1, state0, douts};
                Problem p = make_problem(c, 1000 + configs);
                check_forward(p);
                check_backward(p, 100000);
                configs++;
              }
    // Larger shapes: forward in full, gradients on sampled elements.
    for (Cell cell : cells)
      for (int lens = 0; lens < 2; lens++) {
        Config c{cell, 5, 3, 33, 257, lens == 1, lens == 1, 1, cell == LSTM, true, true};
        Problem p = make_problem(c, 77 + configs);
        check_forward(p);
        check_backward(p, 24);
        configs++;
      }
    check_edges();
    // (3) thread count does not change a bit. Shapes large enough that the time loop and the
    // reductions actually split across threads.
    for (Cell cell : cells)
      for (int lens = 0; lens < 2; lens++) {
        Config c{cell, 20, 4, 33, 257, lens == 1, lens == 1, 1, cell == LSTM, true, true};
        check_threads(make_problem(c, 500 + configs));
        Config c2{cell, 5, 3, 7, 9, lens == 1, lens == 0, 1, cell == LSTM, true, true};
        check_threads(make_problem(c2, 600 + configs));
        configs++;
      }
    // (4) batch invariance: B from 1 to 64 (every MR chunk and the small-batch path), each row alone.
    for (Cell cell : cells)
      for (int peep = 0; peep < (cell == LSTM ? 2 : 1); peep++)
        for (int64_t B : {2, 5, 7, 9, 64}) {
          Config c{cell, 3, B, 33, 40, B % 2 == 1, B == 7, 1, peep == 1, true, true};
          check_batch_invariance(make_problem(c, 700 + configs));
          configs++;
        }
  }
  // (5) the ISAs against each other.
  for (Cell cell : cells)
    for (int lens = 0; lens < 2; lens++) {
      Config c{cell, 20, 4, 33, 257, lens == 1, lens == 1, 1, cell == LSTM, true, true};
      check_isa(make_problem(c, 800 + configs));
      Config c2{cell, 5, 3, 7, 9, lens == 1, lens == 0, 1, cell == LSTM, true, true};
      check_isa(make_problem(c2, 900 + configs));
      configs++;
    }
  set_isa(best_isa());
  printf("cells_test: %d configs, %d checks, %d failures (isas %s)\n", configs, g_checks, g_failures,
         ran.c_str());
  return g_failures == 0 ? 0 : 1;
}
