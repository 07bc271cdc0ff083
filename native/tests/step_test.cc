// step_test.cc: the decode step (step.h) under every ISA this machine runs, for every cell:
//   - h_out / c_out bit-identical to the sequence forward with T = 1 (lstm_forward, gru_forward,
//     rnn_forward; themselves checked against a double reference in cells_test), with the state rows
//     gathered through state_index, in place (h_out == h) or not;
//   - logits bit-identical to linear_forward; log_probs within 1e-6 of a double log-softmax of them;
//     top-k equal to a full sort of the candidates (group scores added, ties by index);
//   - bit-identical for 1, 2 and 3 threads and for a row alone vs in a batch;
//   - the packed weights follow the key: a bumped version or another weight array repacks, the same
//     key reuses them.
// Sizes leave SIMD tails (H = 1, 9, 40, 257; D = 0, 7, 33).
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cells.h"
#include "check.h"
#include "dispatch.h"
#include "isas.h"
#include "nn.h"
#include "pool.h"
#include "step.h"

using namespace gated;

namespace {

uint64_t g_rng = 0x2545F4914F6CDD1Dull;
float frand() {  // uniform in [-1, 1)
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return (float)((g_rng >> 40) * (1.0 / (1 << 24))) * 2.0f - 1.0f;
}
std::vector<float> rnd(int64_t n, float scale) {
  std::vector<float> v((size_t)n);
  for (float& x : v) x = scale * frand();
  return v;
}

const char* cell_name(StepCell c) {
  static const char* n[] = {"rnn_tanh", "rnn_relu", "lstm", "gru_after", "gru_before"};
  return n[(int)c];
}

struct Model {
  StepCell cell;
  int64_t D, H, V;
  bool bias, peep;
  std::vector<float> w_ih, w_hh, b_ih, b_hh, w_peep, w_out, b_out;
  Model(StepCell c, int64_t d, int64_t h, int64_t v, bool bias_, bool peep_)
      : cell(c), D(d), H(h), V(v), bias(bias_), peep(peep_) {
    const int64_t G = step_gates(c);
    const float k = 1.0f / sqrtf((float)H);
    w_ih = rnd(G * H * D, k);
    w_hh = rnd(G * H * H, k);
    b_ih = rnd(G * H, k);
    b_hh = rnd(G * H, k);
    w_peep = rnd(3 * H, 0.5f);
    w_out = rnd(V * H, 2.0f * k);
    b_out = rnd(V, 0.5f);
  }
  StepWeights weights() const {
    return StepWeights{cell,
                       D,
                       H,
                       V,
                       w_ih.data(),
                       w_hh.data(),
                       bias ? b_ih.data() : nullptr,
                       bias ? b_hh.data() : nullptr,
                       peep ? w_peep.data() : nullptr,
                       V > 0 ? w_out.data() : nullptr,
                       V > 0 && bias ? b_out.data() : nullptr};
  }
};

struct Out {
  std::vector<float> h, c, lp, top_v;
  std::vector<int32_t> top_i;
};

// One step of rows `B` with states gathered from `rows` state rows.
Out run_step(StepCache& cache, const Model& m, uint64_t version, int64_t B, const std::vector<float>& x,
             const std::vector<float>& h, const std::vector<float>& c, const std::vector<int32_t>* index,
             int64_t top_k, int64_t group, const std::vector<float>* scores, bool in_place = false) {
  Out o;
  o.h.assign((size_t)(B * m.H), NAN);
  o.c.assign((size_t)(B * m.H), NAN);
  o.lp.assign((size_t)(B * m.V), NAN);
  const int64_t groups = top_k > 0 ? B / group : 0;
  o.top_v.assign((size_t)(groups * top_k), NAN);
  o.top_i.assign((size_t)(groups * top_k), -1);
  std::vector<float> hs = h, cs = c;  // in place: the outputs are the (gathered-from) state arrays
  StepArgs a{B,
             index ? (int64_t)(h.size() / m.H) : B,
             x.data(),
             hs.data(),
             cs.data(),
             index ? index->data() : nullptr,
             in_place ? hs.data() : o.h.data(),
             in_place ? cs.data() : o.c.data(),
             m.V > 0 ? o.lp.data() : nullptr,
             top_k,
             group,
             scores ? scores->data() : nullptr,
             o.top_v.data(),
             o.top_i.data()};
  step_forward(cache, m.weights(), version, a);
  if (in_place) {
    o.h.assign(hs.begin(), hs.begin() + B * m.H);
    o.c.assign(cs.begin(), cs.begin() + B * m.H);
  }
  return o;
}

// The sequence forward with T = 1 on the gathered states: y = h_n, c_n.
void run_sequence(const Model& m, int64_t B, const std::vector<float>& x, const std::vector<float>& h0,
                  const std::vector<float>& c0, std::vector<float>* h, std::vector<float>* c) {
  SeqInputs in{SeqShape{1, B, m.D, m.H},
               x.data(),
               m.w_ih.data(),
               m.w_hh.data(),
               m.bias ? m.b_ih.data() : nullptr,
               m.bias ? m.b_hh.data() : nullptr,
               nullptr,
               false};
  std::vector<float> y((size_t)(B * m.H));
  h->assign((size_t)(B * m.H), 0.0f);
  c->assign((size_t)(B * m.H), 0.0f);
  if (m.cell == StepCell::Lstm) {
    lstm_forward(LstmForwardArgs{in, m.peep ? m.w_peep.data() : nullptr, h0.data(), c0.data(), y.data(),
                                 h->data(), c->data(), nullptr});
  } else if (step_gates(m.cell) == 3) {
    gru_forward(
        GruForwardArgs{in, m.cell == StepCell::GruResetAfter, h0.data(), y.data(), h->data(), nullptr});
  } else {
    rnn_forward(RnnForwardArgs{in, m.cell == StepCell::RnnRelu ? RnnActivation::Relu : RnnActivation::Tanh,
                               h0.data(), y.data(), h->data(), nullptr});
  }
}

std::vector<float> gather(const std::vector<float>& s, const std::vector<int32_t>& idx, int64_t H) {
  std::vector<float> g;
  for (int32_t r : idx) g.insert(g.end(), s.begin() + r * H, s.begin() + (r + 1) * H);
  return g;
}

bool same(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

void check_model(const Model& m, int64_t B, const char* isa) {
  const int64_t H = m.H, rows = B + 3;
  const std::string name = std::string(isa) + " " + cell_name(m.cell) + " D=" + std::to_string(m.D) +
                           " H=" + std::to_string(H) + " V=" + std::to_string(m.V) +
                           " B=" + std::to_string(B);
  std::vector<float> x = rnd(B * m.D, 1.0f), h = rnd(rows * H, 0.8f), c = rnd(rows * H, 0.8f);
  std::vector<int32_t> idx((size_t)B);
  for (int64_t b = 0; b < B; b++) idx[b] = (int32_t)((b * 7 + 2) % rows);
  std::vector<float> scores = rnd(B, 3.0f);
  const int64_t group = B % 2 == 0 ? 2 : 1;
  const int64_t top_k = m.V > 0 ? std::min<int64_t>(5, group * m.V) : 0;
  StepCache cache;
  const Out o = run_step(cache, m, 1, B, x, h, c, &idx, top_k, group, &scores);

  // The cell: the sequence forward's bits.
  std::vector<float> hs, cs;
  run_sequence(m, B, x, gather(h, idx, H), gather(c, idx, H), &hs, &cs);
  CHECK(same(o.h, hs), "%s: h_out differs from the sequence forward", name.c_str());
  if (m.cell == StepCell::Lstm)
    CHECK(same(o.c, cs), "%s: c_out differs from the sequence forward", name.c_str());

  // In place (h_out == h, c_out == c, no gather): the same bits as into fresh outputs.
  {
    std::vector<float> hb(h.begin(), h.begin() + B * H), cb(c.begin(), c.begin() + B * H);
    const Out fresh = run_step(cache, m, 1, B, x, hb, cb, nullptr, 0, 1, nullptr);
    const Out inplace = run_step(cache, m, 1, B, x, hb, cb, nullptr, 0, 1, nullptr, true);
    CHECK(same(fresh.h, inplace.h) && (m.cell != StepCell::Lstm || same(fresh.c, inplace.c)),
          "%s: in place differs", name.c_str());
  }

  // Threads and batch invariance.
  for (int th : {1, 3}) {
    set_threads(th);
    const Out t = run_step(cache, m, 1, B, x, h, c, &idx, top_k, group, &scores);
    CHECK(same(t.h, o.h) && same(t.lp, o.lp) && same(t.top_v, o.top_v) && t.top_i == o.top_i,
          "%s: threads=%d differs", name.c_str(), th);
  }
  set_threads(2);
  for (int64_t b : {(int64_t)0, B - 1}) {
    std::vector<float> xb(x.begin() + b * m.D, x.begin() + (b + 1) * m.D);
    std::vector<int32_t> ib{idx[b]};
    const Out one = run_step(cache, m, 1, 1, xb, h, c, &ib, 0, 1, nullptr);
    CHECK(same(one.h, std::vector<float>(o.h.begin() + b * H, o.h.begin() + (b + 1) * H)),
          "%s: row %lld alone differs", name.c_str(), (long long)b);
    if (m.V > 0)
      CHECK(same(one.lp, std::vector<float>(o.lp.begin() + b * m.V, o.lp.begin() + (b + 1) * m.V)),
            "%s: row %lld log_probs alone differ", name.c_str(), (long long)b);
  }
  if (m.V <= 0) return;

  // Logits: linear_forward's bits; log_probs: a double log-softmax of them.
  std::vector<float> logits((size_t)(B * m.V));
  linear_forward(o.h.data(), m.w_out.data(), m.bias ? m.b_out.data() : nullptr, B, H, m.V, logits.data());
  double worst = 0;
  for (int64_t b = 0; b < B; b++) {
    const float* l = logits.data() + b * m.V;
    double mx = -INFINITY, s = 0;
    for (int64_t v = 0; v < m.V; v++) mx = std::max(mx, (double)l[v]);
    for (int64_t v = 0; v < m.V; v++) s += exp((double)l[v] - mx);
    for (int64_t v = 0; v < m.V; v++) {
      const double want = (double)l[v] - mx - log(s);
      worst = std::max(worst, fabs(o.lp[b * m.V + v] - want) / std::max(1.0, fabs(want)));
    }
  }
  CHECK(worst <= 1e-6, "%s: log_probs off by %.3g", name.c_str(), worst);
  // Top-k: a full sort of each group's candidates.
  for (int64_t q = 0; q < B / group; q++) {
    std::vector<std::pair<float, int32_t>> cand;
    for (int64_t r = 0; r < group; r++)
      for (int64_t v = 0; v < m.V; v++)
        cand.push_back({scores[q * group + r] + o.lp[(q * group + r) * m.V + v], (int32_t)(r * m.V + v)});
    std::stable_sort(cand.begin(), cand.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    for (int64_t i = 0; i < top_k; i++) {
      CHECK(o.top_i[q * top_k + i] == cand[i].second && o.top_v[q * top_k + i] == cand[i].first,
            "%s: group %lld top %lld: got %d %g want %d %g", name.c_str(), (long long)q, (long long)i,
            o.top_i[q * top_k + i], o.top_v[q * top_k + i], cand[i].second, cand[i].first);
    }
  }
}

// The packed weights follow the key.
void check_versions(const char* isa) {
  Model m(StepCell::Lstm, 7, 9, 11, true, false);
  std::vector<float> x = rnd(2 * 7, 1.0f), h = rnd(2 * 9, 1.0f), c = rnd(2 * 9, 1.0f);
  StepCache cache;
  const Out a = run_step(cache, m, 1, 2, x, h, c, nullptr, 0, 1, nullptr);
  m.w_hh[3] += 0.5f;
  m.w_out[5] += 0.5f;
  const Out stale = run_step(cache, m, 1, 2, x, h, c, nullptr, 0, 1, nullptr);
  CHECK(same(a.h, stale.h) && same(a.lp, stale.lp), "%s: same version must reuse the packed weights", isa);
  const Out fresh = run_step(cache, m, 2, 2, x, h, c, nullptr, 0, 1, nullptr);
  StepCache other;
  const Out want = run_step(other, m, 7, 2, x, h, c, nullptr, 0, 1, nullptr);
  CHECK(!same(a.h, fresh.h) && same(fresh.h, want.h) && same(fresh.lp, want.lp),
        "%s: a new version must repack", isa);
  Model m2 = m;  // other arrays (same values), same version: repacked from them
  m2.w_hh[3] -= 0.5f;
  const Out moved = run_step(cache, m2, 2, 2, x, h, c, nullptr, 0, 1, nullptr);
  StepCache third;
  CHECK(same(moved.h, run_step(third, m2, 0, 2, x, h, c, nullptr, 0, 1, nullptr).h),
        "%s: other weight arrays must repack", isa);
}

// Exact ties rank by index; a NaN row ranks below every finite candidate of its group.
// Ties rank by index and a NaN row ranks last, also where the top-k skips whole chunks of 16
// candidates (V = 100: the tied best lie in chunks after the first, and the chunks between them
// hold nothing better than the k-th).
void check_ties_and_nan(const char* isa, int64_t V, const int64_t (&best)[4]) {
  const int64_t H = 16;
  Model m(StepCell::GruResetAfter, 5, H, V, true, false);
  for (int64_t v : best)  // rows `best` of the output layer equal: equal logits ...
    for (int64_t k = 0; k < H; k++) m.w_out[v * H + k] = m.w_out[best[0] * H + k];
  for (int64_t v : best) m.b_out[v] = 4.0f;  // ... and the largest
  std::vector<float> x = rnd(2 * 5, 1.0f), h = rnd(2 * H, 1.0f), c;
  StepCache cache;
  const Out o = run_step(cache, m, 1, 2, x, h, c, nullptr, 4, 1, nullptr);
  for (int q = 0; q < 2; q++)
    CHECK(o.top_i[q * 4 + 0] == best[0] && o.top_i[q * 4 + 1] == best[1] && o.top_i[q * 4 + 2] == best[2] &&
              o.top_i[q * 4 + 3] == best[3],
          "%s V=%lld: ties must rank by index (row %d: %d %d %d %d)", isa, (long long)V, q, o.top_i[q * 4],
          o.top_i[q * 4 + 1], o.top_i[q * 4 + 2], o.top_i[q * 4 + 3]);
  std::vector<float> hn = h;
  hn[3] = NAN;  // row 0's state: every logit of row 0 NaN
  StepCache c2;
  const Out n = run_step(c2, m, 1, 2, x, hn, c, nullptr, 3, 2, nullptr);
  CHECK(n.top_i[0] == V + best[0] && n.top_i[1] == V + best[1] && n.top_i[2] == V + best[2] &&
            n.top_v[0] == n.top_v[0],
        "%s V=%lld: a NaN row must rank last (got %d %d %d)", isa, (long long)V, n.top_i[0], n.top_i[1],
        n.top_i[2]);
}

}  // namespace

int main() {
  int count = 0;
  std::string ran;
  for (const std::string& isa_name : test_isas()) {
    const char* isa = isa_name.c_str();
    set_isa(isa);
    ran += (ran.empty() ? "" : ", ") + isa_name;
    for (int ci = 0; ci < 5; ci++) {
      const StepCell cell = (StepCell)ci;
      for (int64_t H : {1, 9, 40, 257})
        for (int64_t B : {1, 4, 9}) {
          const int64_t D = H == 40 ? 0 : (H == 9 ? 7 : 33);
          const int64_t V = H == 1 ? 0 : (H == 257 ? 37 : 100);
          Model m(cell, D, H, V, (H + B) % 2 == 0, cell == StepCell::Lstm && B != 4);
          check_model(m, B, isa);
          count++;
        }
      Model big(cell, 33, 64, 300, true, false);
      check_model(big, 64, isa);
      count++;
    }
    check_versions(isa);
    check_ties_and_nan(isa, 20, {3, 7, 11, 15});
    check_ties_and_nan(isa, 100, {35, 50, 83, 99});
  }
  set_isa(best_isa());
  printf("step_test: %d models, isas %s: %s\n", count, ran.c_str(), check_failures() ? "FAILED" : "OK");
  return check_failures() != 0;
}
