// attention_test.cc: the fused attention decoder (attention.h) on tiny sizes, under every ISA, for
// every cell x attention variant x inputFeed:
//   - backward against central finite differences of a weighted sum of the forward's outputs
//     (y, h_n, c_n, the last step's feed), for a spread of elements of every input and weight;
//   - forward without a cache gives the bits of forward with one; given keys give the bits of
//     computed keys;
//   - batch invariance: each row of a B = 3 call (rows with different srcLengths) equals, bit for bit,
//     the same row run alone (B = 1), and one thread equals the pool's threads.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <string>
#include <vector>

#include "attention.h"
#include "check.h"
#include "dispatch.h"
#include "isas.h"
#include "pool.h"

using namespace gated;

namespace {

struct Rng {
  uint64_t s;
  float next() {  // uniform in [-1, 1)
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(s >> 40) / (double)(1ULL << 24) * 2.0 - 1.0);
  }
};

struct Problem {
  AttnSizes z;
  std::vector<float> x, memory, h0, c0, feed0;
  std::vector<int32_t> lens;
  std::vector<std::vector<float>> wih, whh, bih, bhh;
  std::vector<float> weight, qw, qb, kw, v, ow;
  // loss weights
  std::vector<float> wy, wh, wc, wf;

  std::vector<AttnLayerWeights> layers() const {
    std::vector<AttnLayerWeights> out;
    for (int64_t l = 0; l < z.L; l++)
      out.push_back({wih[l].data(), whh[l].data(), bih[l].data(), bhh[l].data()});
    return out;
  }
  AttnWeights attn() const {
    AttnWeights w{};
    w.weight = weight.empty() ? nullptr : weight.data();
    w.query_weight = qw.empty() ? nullptr : qw.data();
    w.query_bias = qb.empty() ? nullptr : qb.data();
    w.key_weight = kw.empty() ? nullptr : kw.data();
    w.v = v.empty() ? nullptr : v.data();
    w.out_weight = ow.data();
    return w;
  }
};

void fill(std::vector<float>& a, int64_t n, Rng& r, float scale) {
  a.resize((size_t)n);
  for (auto& e : a) e = scale * r.next();
}

Problem make(AttnCell cell, AttnKind kind, bool feed, int64_t B, uint64_t seed) {
  Problem p;
  AttnSizes& z = p.z;
  z.T = 3;
  z.B = B;
  z.S = 4;
  z.D = 2;
  z.H = 3;
  z.E = kind == AttnKind::Dot ? 3 : 5;
  z.A = 2;
  z.L = 2;
  z.cell = cell;
  z.kind = kind;
  z.input_feed = feed;
  Rng r{seed};
  const int64_t G = attn_gates(cell), H = z.H, E = z.E, A = z.A;
  fill(p.x, z.T * B * z.D, r, 1.0f);
  fill(p.memory, z.S * B * E, r, 1.0f);
  fill(p.h0, z.L * B * H, r, 0.5f);
  fill(p.c0, z.L * B * H, r, 0.5f);
  fill(p.feed0, B * H, r, 0.5f);
  p.lens.resize((size_t)B);
  for (int64_t b = 0; b < B; b++) p.lens[b] = (int32_t)(z.S - (b % z.S));
  p.wih.resize(z.L);
  p.whh.resize(z.L);
  p.bih.resize(z.L);
  p.bhh.resize(z.L);
  for (int64_t l = 0; l < z.L; l++) {
    fill(p.wih[l], G * H * z.in_width(l), r, 0.6f);
    fill(p.whh[l], G * H * H, r, 0.6f);
    fill(p.bih[l], G * H, r, 0.3f);
    fill(p.bhh[l], G * H, r, 0.3f);
  }
  if (kind == AttnKind::General) fill(p.weight, H * E, r, 0.6f);
  if (kind == AttnKind::Concat) fill(p.weight, A * (H + E), r, 0.6f);
  if (kind == AttnKind::Additive) {
    fill(p.qw, A * H, r, 0.6f);
    fill(p.qb, A, r, 0.3f);
    fill(p.kw, A * E, r, 0.6f);
  }
  if (kind == AttnKind::Concat || kind == AttnKind::Additive) fill(p.v, A, r, 1.0f);
  fill(p.ow, H * (E + H), r, 0.6f);
  fill(p.wy, z.T * B * H, r, 1.0f);
  fill(p.wh, z.L * B * H, r, 1.0f);
  fill(p.wc, z.L * B * H, r, 1.0f);
  fill(p.wf, B * H, r, 1.0f);
  return p;
}

struct Out {
  std::vector<float> y, att, hn, cn, keys, cache;
};

Out forward(const Problem& p, bool keep, const float* keys_in = nullptr) {
  const AttnSizes& z = p.z;
  Out o;
  o.y.assign(z.T * z.B * z.H, 0);
  o.att.assign(z.T * z.B * z.S, 0);
  o.hn.assign(z.L * z.B * z.H, 0);
  o.cn.assign(z.L * z.B * z.H, 0);
  o.keys.assign(z.S * z.B * z.key_width() + 1, 0);
  if (keep) o.cache.assign(attn_cache_floats(z), -7.0f);
  std::vector<AttnLayerWeights> lw = p.layers();
  AttnForwardArgs a{};
  a.z = z;
  a.layers = lw.data();
  a.w = p.attn();
  a.x = p.x.data();
  a.memory = p.memory.data();
  a.src_lengths = p.lens.data();
  a.h0 = p.h0.data();
  a.c0 = z.cell == AttnCell::Lstm ? p.c0.data() : nullptr;
  a.feed0 = p.feed0.data();
  a.keys = keys_in;
  a.y = o.y.data();
  a.attention = o.att.data();
  a.h_n = o.hn.data();
  a.c_n = z.cell == AttnCell::Lstm ? o.cn.data() : nullptr;
  a.keys_out = z.key_width() > 0 ? o.keys.data() : nullptr;
  a.cache = keep ? o.cache.data() : nullptr;
  attn_decoder_forward(a);
  return o;
}

double loss(const Problem& p) {
  const AttnSizes& z = p.z;
  Out o = forward(p, false);
  double s = 0;
  for (size_t i = 0; i < o.y.size(); i++) s += (double)o.y[i] * p.wy[i];
  for (size_t i = 0; i < o.hn.size(); i++) s += (double)o.hn[i] * p.wh[i];
  if (z.cell == AttnCell::Lstm)
    for (size_t i = 0; i < o.cn.size(); i++) s += (double)o.cn[i] * p.wc[i];
  const float* ylast = o.y.data() + (z.T - 1) * z.B * z.H;
  for (int64_t i = 0; i < z.B * z.H; i++) s += (double)ylast[i] * p.wf[i];
  return s;
}

struct Grads {
  std::vector<float> dx, dmem, dh0, dc0, dfeed0;
  std::vector<std::vector<float>> dwih, dwhh, dbih, dbhh;
  std::vector<float> dweight, dqw, dqb, dkw, dv, dow;
};

Grads backward(const Problem& p) {
  const AttnSizes& z = p.z;
  Out o = forward(p, true);
  const int64_t G = attn_gates(z.cell), H = z.H, B = z.B;
  Grads g;
  g.dx.assign(z.T * B * z.D, 1e9f);
  g.dmem.assign(z.S * B * z.E, 1e9f);
  g.dh0.assign(z.L * B * H, 1e9f);
  g.dc0.assign(z.L * B * H, 1e9f);
  g.dfeed0.assign(B * H, 1e9f);
  std::vector<AttnLayerGrads> dl;
  g.dwih.resize(z.L);
  g.dwhh.resize(z.L);
  g.dbih.resize(z.L);
  g.dbhh.resize(z.L);
  for (int64_t l = 0; l < z.L; l++) {
    g.dwih[l].assign(p.wih[l].size(), 1e9f);
    g.dwhh[l].assign(p.whh[l].size(), 1e9f);
    g.dbih[l].assign(G * H, 1e9f);
    g.dbhh[l].assign(G * H, 1e9f);
  }
  for (int64_t l = 0; l < z.L; l++)
    dl.push_back({g.dwih[l].data(), g.dwhh[l].data(), g.dbih[l].data(), g.dbhh[l].data()});
  g.dweight.assign(p.weight.size(), 1e9f);
  g.dqw.assign(p.qw.size(), 1e9f);
  g.dqb.assign(p.qb.size(), 1e9f);
  g.dkw.assign(p.kw.size(), 1e9f);
  g.dv.assign(p.v.size(), 1e9f);
  g.dow.assign(p.ow.size(), 1e9f);
  std::vector<AttnLayerWeights> lw = p.layers();
  AttnBackwardArgs a{};
  a.z = z;
  a.layers = lw.data();
  a.w = p.attn();
  a.memory = p.memory.data();
  a.src_lengths = p.lens.data();
  a.cache = o.cache.data();
  a.dy = p.wy.data();
  a.dh_n = p.wh.data();
  a.dc_n = z.cell == AttnCell::Lstm ? p.wc.data() : nullptr;
  a.dfeed_n = p.wf.data();
  a.dx = g.dx.data();
  a.d_memory = g.dmem.data();
  a.dh0 = g.dh0.data();
  a.dc0 = z.cell == AttnCell::Lstm ? g.dc0.data() : nullptr;
  a.dfeed0 = g.dfeed0.data();
  a.dlayers = dl.data();
  a.dattn.d_weight = g.dweight.empty() ? nullptr : g.dweight.data();
  a.dattn.d_query_weight = g.dqw.empty() ? nullptr : g.dqw.data();
  a.dattn.d_query_bias = g.dqb.empty() ? nullptr : g.dqb.data();
  a.dattn.d_key_weight = g.dkw.empty() ? nullptr : g.dkw.data();
  a.dattn.d_v = g.dv.empty() ? nullptr : g.dv.data();
  a.dattn.d_out_weight = g.dow.data();
  attn_decoder_backward(a);
  return g;
}

// Central differences on a spread of elements of `param` against `grad`.
void fd_check(Problem& p, std::vector<float>& param, const std::vector<float>& grad, const char* name,
              const std::string& tag) {
  const size_t n = param.size();
  if (n == 0) return;
  const size_t step = n > 7 ? n / 7 : 1;
  for (size_t i = 0; i < n; i += step) {
    const float keep = param[i];
    // ReLU's kink: a small step, so that few units cross 0 (and a looser bound for those that do).
    const bool relu = p.z.cell == AttnCell::RnnRelu;
    const float eps = relu ? 1e-3f : 1e-2f;
    param[i] = keep + eps;
    const double lp = loss(p);
    param[i] = keep - eps;
    const double lm = loss(p);
    param[i] = keep;
    const double fd = (lp - lm) / (2.0 * eps);
    const double err = fabs(fd - (double)grad[i]);
    CHECK(err <= (relu ? 1e-2 : 3e-3) + 2e-2 * fabs(fd), "%s %s[%zu]: backward %.6f, finite differences %.6f",
          tag.c_str(), name, i, grad[i], fd);
  }
}

bool same_bits(const float* a, const float* b, size_t n) { return memcmp(a, b, n * sizeof(float)) == 0; }

void run_case(AttnCell cell, AttnKind kind, bool feed, const std::string& tag) {
  Problem p = make(cell, kind, feed, 3, 42 + (uint64_t)cell * 7 + (uint64_t)kind * 3 + feed);
  const AttnSizes& z = p.z;
  // Forward: with / without cache, given keys, attention rows sum to 1 with zeros past srcLengths.
  Out k = forward(p, true), n = forward(p, false);
  CHECK(same_bits(k.y.data(), n.y.data(), k.y.size()), "%s: y differs without a cache", tag.c_str());
  CHECK(same_bits(k.hn.data(), n.hn.data(), k.hn.size()), "%s: hN differs without a cache", tag.c_str());
  if (z.key_width() > 0) {
    Out g = forward(p, false, k.keys.data());
    CHECK(same_bits(k.y.data(), g.y.data(), k.y.size()), "%s: y differs with given keys", tag.c_str());
  }
  for (int64_t r = 0; r < z.T * z.B; r++) {
    const int64_t b = r % z.B;
    double s = 0;
    for (int64_t j = 0; j < z.S; j++) {
      const float a = k.att[r * z.S + j];
      s += a;
      if (j >= p.lens[b]) CHECK(a == 0.0f, "%s: attention past srcLength not 0", tag.c_str());
    }
    CHECK(fabs(s - 1.0) < 1e-5, "%s: attention row %lld sums to %f", tag.c_str(), (long long)r, s);
  }
  // Backward vs finite differences.
  Grads g = backward(p);
  fd_check(p, p.x, g.dx, "dx", tag);
  fd_check(p, p.memory, g.dmem, "dMemory", tag);
  fd_check(p, p.h0, g.dh0, "dh0", tag);
  if (cell == AttnCell::Lstm) fd_check(p, p.c0, g.dc0, "dc0", tag);
  if (feed)
    fd_check(p, p.feed0, g.dfeed0, "dFeed0", tag);
  else
    for (float v : g.dfeed0) CHECK(v == 0.0f, "%s: dFeed0 not 0 without inputFeed", tag.c_str());
  for (int64_t l = 0; l < z.L; l++) {
    fd_check(p, p.wih[l], g.dwih[l], "dWeightIh", tag);
    fd_check(p, p.whh[l], g.dwhh[l], "dWeightHh", tag);
    fd_check(p, p.bih[l], g.dbih[l], "dBiasIh", tag);
    fd_check(p, p.bhh[l], g.dbhh[l], "dBiasHh", tag);
  }
  fd_check(p, p.weight, g.dweight, "dWeight", tag);
  fd_check(p, p.qw, g.dqw, "dQueryWeight", tag);
  fd_check(p, p.qb, g.dqb, "dQueryBias", tag);
  fd_check(p, p.kw, g.dkw, "dKeyWeight", tag);
  fd_check(p, p.v, g.dv, "dV", tag);
  fd_check(p, p.ow, g.dow, "dOutWeight", tag);

  // Batch invariance: row b of the B = 3 call == the row alone.
  for (int64_t b = 0; b < z.B; b++) {
    Problem q = p;
    q.z.B = 1;
    auto rows = [&](const std::vector<float>& src, int64_t steps, int64_t w) {
      std::vector<float> out;
      for (int64_t t = 0; t < steps; t++)
        out.insert(out.end(), src.begin() + (t * z.B + b) * w, src.begin() + (t * z.B + b + 1) * w);
      return out;
    };
    q.x = rows(p.x, z.T, z.D);
    q.memory = rows(p.memory, z.S, z.E);
    q.h0 = rows(p.h0, z.L, z.H);
    q.c0 = rows(p.c0, z.L, z.H);
    q.feed0 = rows(p.feed0, 1, z.H);
    q.lens = {p.lens[b]};
    Out o = forward(q, true);
    const std::vector<float> y = rows(k.y, z.T, z.H), att = rows(k.att, z.T, z.S), hn = rows(k.hn, z.L, z.H);
    CHECK(same_bits(o.y.data(), y.data(), y.size()), "%s: row %lld y differs alone", tag.c_str(),
          (long long)b);
    CHECK(same_bits(o.att.data(), att.data(), att.size()), "%s: row %lld attention differs alone",
          tag.c_str(), (long long)b);
    CHECK(same_bits(o.hn.data(), hn.data(), hn.size()), "%s: row %lld hN differs alone", tag.c_str(),
          (long long)b);
  }
}

// A larger call (packed weights, threaded products and rows): one thread == the pool's threads,
// and a row alone == the row in a batch of 33.
void threads_case() {
  Problem p = make(AttnCell::Lstm, AttnKind::Additive, true, 33, 7);
  p.z.T = 4;
  Rng r{9};
  p.z.H = 40;
  p.z.E = 24;
  p.z.A = 20;
  p.z.D = 6;
  const int64_t G = 4, H = p.z.H;
  fill(p.x, p.z.T * 33 * p.z.D, r, 1.0f);
  fill(p.memory, p.z.S * 33 * p.z.E, r, 1.0f);
  fill(p.h0, p.z.L * 33 * H, r, 0.5f);
  fill(p.c0, p.z.L * 33 * H, r, 0.5f);
  fill(p.feed0, 33 * H, r, 0.5f);
  for (int64_t l = 0; l < p.z.L; l++) {
    fill(p.wih[l], G * H * p.z.in_width(l), r, 0.2f);
    fill(p.whh[l], G * H * H, r, 0.2f);
    fill(p.bih[l], G * H, r, 0.2f);
    fill(p.bhh[l], G * H, r, 0.2f);
  }
  fill(p.qw, p.z.A * H, r, 0.2f);
  fill(p.qb, p.z.A, r, 0.2f);
  fill(p.kw, p.z.A * p.z.E, r, 0.2f);
  fill(p.v, p.z.A, r, 0.5f);
  fill(p.ow, H * (p.z.E + H), r, 0.2f);
  fill(p.wy, p.z.T * 33 * H, r, 1.0f);
  fill(p.wh, p.z.L * 33 * H, r, 1.0f);
  fill(p.wc, p.z.L * 33 * H, r, 1.0f);
  fill(p.wf, 33 * H, r, 1.0f);
  const int nt = get_threads();
  Out many = forward(p, true);
  Grads gm = backward(p);
  set_threads(1);
  Out one = forward(p, true);
  Grads g1 = backward(p);
  set_threads(nt);
  CHECK(same_bits(many.y.data(), one.y.data(), many.y.size()), "threads: y depends on the thread count");
  CHECK(same_bits(many.cache.data(), one.cache.data(), many.cache.size()),
        "threads: cache depends on threads");
  CHECK(same_bits(gm.dx.data(), g1.dx.data(), gm.dx.size()), "threads: dx depends on the thread count");
  CHECK(same_bits(gm.dwhh[0].data(), g1.dwhh[0].data(), gm.dwhh[0].size()),
        "threads: dWeightHh depends on threads");
  CHECK(same_bits(gm.dmem.data(), g1.dmem.data(), gm.dmem.size()), "threads: dMemory depends on threads");
}

}  // namespace

int main() {
  const char* cells[] = {"rnn-tanh", "rnn-relu", "lstm", "gru-after", "gru-before"};
  const char* kinds[] = {"dot", "general", "concat", "additive"};
  for (const std::string& isa : test_isas()) {
    set_isa(isa.c_str());
    printf("attention_test: %s\n", isa.c_str());
    for (int c = 0; c < 5; c++)
      for (int k = 0; k < 4; k++)
        for (int f = 0; f < 2; f++)
          run_case((AttnCell)c, (AttnKind)k, f == 1,
                   isa + " " + cells[c] + " " + kinds[k] + (f ? " feed" : " nofeed"));
    threads_case();
  }
  printf("%s (%d failures)\n", check_failures() ? "FAIL" : "ok", check_failures());
  return check_failures() != 0;
}
