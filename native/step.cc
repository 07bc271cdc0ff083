// step.cc: the decode step (contract in step.h): pack once per weight version, then per call one
// parallel region: the cell on whole unit blocks per thread, the output layer on column panels, the
// log-softmax and top-k on row groups.
#include "step.h"

#include <math.h>
#include <string.h>

#include "cell_kernels.h"
#include "dispatch.h"
#include "nn.h"
#include "pool.h"
#include "seq_common.h"

namespace gated {
namespace {

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

bool same_weights(const StepWeights& a, const StepWeights& b) {
  return a.cell == b.cell && a.D == b.D && a.H == b.H && a.V == b.V && a.w_ih == b.w_ih && a.w_hh == b.w_hh &&
         a.b_ih == b.b_ih && a.b_hh == b.b_hh && a.w_peep == b.w_peep && a.w_out == b.w_out &&
         a.b_out == b.b_out;
}

// Packs gates [g0, g1) of W [G*H, K] (row g*H + u is unit u of gate g) with its columns in blocks of
// P units: block j (units [jP, jP + w_j)) holds gate g0's w_j columns, then gate g0+1's, ...; so
// column (j*(g1-g0)*P + (g-g0)*w_j + u - jP) = row g*H + u. `tmp` holds the permuted rows.
void pack_blocked(const float* W, int64_t K, int64_t H, int64_t g0, int64_t g1, int64_t P,
                  std::vector<float>& tmp, PackedB* out) {
  const int64_t Gs = g1 - g0;
  tmp.resize((size_t)(Gs * H * (K > 0 ? K : 0)));
  int64_t col = 0;
  for (int64_t u0 = 0; u0 < H; u0 += P) {
    const int64_t w = min64(P, H - u0);
    for (int64_t g = g0; g < g1; g++, col += w)
      if (K > 0) memcpy(tmp.data() + col * K, W + (g * H + u0) * K, sizeof(float) * (size_t)(w * K));
  }
  pack_b(true, K, Gs * H, tmp.data(), K, out);
}

// Packs everything the step reads (see StepCache) and sets the key.
void pack_step(StepCache& s, const StepWeights& w, uint64_t version) {
  s.valid = false;  // stays false if an allocation below throws
  const int64_t G = step_gates(w.cell), H = w.H, D = w.D;
  const bool before = w.cell == StepCell::GruResetBefore, after = w.cell == StepCell::GruResetAfter;
  const int64_t P = gemm_panel_width();
  s.unit_block = P;
  std::vector<float> tmp;
  pack_blocked(w.w_ih, D, H, 0, G, P, tmp, &s.ih);
  pack_blocked(w.w_hh, H, H, 0, before ? 2 : G, P, tmp, &s.hh);
  if (before) pack_blocked(w.w_hh, H, H, 2, 3, P, tmp, &s.hn);
  if (w.V > 0) pack_b(true, H, w.V, w.w_out, H, &s.out);
  // Folded biases as the sequence drivers fold them (seq::fold_bias): b_ih + b_hh, except GRU
  // reset-after's gate n, which takes b_ih alone (its b_hn goes inside r * (.)).
  const int64_t split = after ? 2 : G;
  s.bias.assign((size_t)(G * H), 0.0f);
  int64_t col = 0;
  for (int64_t u0 = 0; u0 < H; u0 += P) {
    const int64_t wu = min64(P, H - u0);
    for (int64_t g = 0; g < G; g++)
      for (int64_t u = 0; u < wu; u++, col++) {
        const int64_t k = g * H + u0 + u;
        float v = w.b_ih ? w.b_ih[k] : 0.0f;
        if (g < split && w.b_hh) v += w.b_hh[k];
        s.bias[(size_t)col] = v;
      }
  }
  s.b_hn.assign((size_t)H, 0.0f);
  if (after && w.b_hh) memcpy(s.b_hn.data(), w.b_hh + 2 * H, sizeof(float) * (size_t)H);
  s.w = w;
  s.version = version;
  s.nr = (int)P;
  s.valid = true;
}

// Ranking key of a top-k candidate: NaN ranks below everything.
inline float rank_key(float v) { return v != v ? -INFINITY : v; }

// The top_k best of a group's candidates score[r] + lp[r, v] (r < group rows, v < V), best first.
// Once k are held, a chunk of candidates none of which beats the k-th is skipped with one
// branch-free test: `val > thr` is false for a NaN as `rank_key(val) > thr` is, so the skip keeps
// exactly the candidates the one-by-one scan keeps.
void top_k_group(const float* lp, int64_t rows, int64_t V, const float* scores, int64_t k, float* vals,
                 int32_t* idx) {
  constexpr int64_t kChunk = 16;
  int64_t n = 0;  // candidates held, sorted best first (stable: earlier index first among equals)
  for (int64_t r = 0; r < rows; r++) {
    const float add = scores ? scores[r] : 0.0f;
    const float* row = lp + r * V;
    for (int64_t v = 0; v < V;) {
      if (n == k && v + kChunk <= V) {
        const float thr = rank_key(vals[k - 1]);
        bool any = false;
        for (int64_t j = 0; j < kChunk; j++) any |= add + row[v + j] > thr;
        if (!any) {
          v += kChunk;
          continue;
        }
      }
      for (const int64_t end = min64(v + kChunk, V); v < end; v++) {
        const float val = add + row[v];
        const float key = rank_key(val);
        if (n == k && !(key > rank_key(vals[k - 1]))) continue;
        int64_t p = n < k ? n++ : k - 1;
        while (p > 0 && key > rank_key(vals[p - 1])) {
          vals[p] = vals[p - 1];
          idx[p] = idx[p - 1];
          p--;
        }
        vals[p] = val;
        idx[p] = (int32_t)(r * V + v);
      }
    }
  }
}

}  // namespace

size_t StepCache::packed_bytes() const {
  return sizeof(float) *
         (ih.data.size() + hh.data.size() + hn.data.size() + out.data.size() + bias.size() + b_hn.size());
}

void step_forward(StepCache& cache, const StepWeights& w, uint64_t version, const StepArgs& a) {
  std::lock_guard<std::mutex> lock(cache.mutex);
  const int64_t B = a.B, D = w.D, H = w.H, V = w.V, G = step_gates(w.cell);
  if (B <= 0 || H <= 0) return;
  if (!cache.valid || cache.version != version || cache.nr != (int)gemm_panel_width() ||
      !same_weights(cache.w, w))
    pack_step(cache, w, version);
  const StepCell cell = w.cell;
  const bool lstm = cell == StepCell::Lstm, before = cell == StepCell::GruResetBefore;
  const bool gru_after = cell == StepCell::GruResetAfter, rnn = G == 1;
  const int act = cell == StepCell::RnnRelu ? 1 : 0;
  const int64_t GH = G * H, Gh = before ? 2 : G, DH = D + H, P = cache.unit_block;
  const CellKernels& ck = kernels().cell;

  // Workspace (thread arena): [x | h] gathered [B, D+H], c gathered [B, H], the two products
  // gx [B, G*H] and gh [B, Gh*H] in blocked column order, two per-row scratch rows [B, H] (tanh(c) /
  // hn, and GRU reset-before's r * h and its n-gate product), logits [B, V] unless log_probs is given.
  float *xh, *cst, *gx, *gh, *s1, *s2, *s3, *logits = a.log_probs;
  seq::Workspace ws;
  ws.add(&xh, B * DH);
  ws.add(&cst, B * H);
  ws.add(&gx, B * GH);
  ws.add(&gh, B * Gh * H);
  ws.add(&s1, B * H);
  ws.add(&s2, before ? B * H : 0);
  ws.add(&s3, before ? B * H : 0);
  if (V > 0 && !logits) ws.add(&logits, B * V);
  ws.take();
  for (int64_t b = 0; b < B; b++) {
    const int64_t r = a.state_index ? a.state_index[b] : b;
    if (D > 0) memcpy(xh + b * DH, a.x + b * D, sizeof(float) * (size_t)D);
    memcpy(xh + b * DH + D, a.h + r * H, sizeof(float) * (size_t)H);
    if (lstm) seq::copy_or_zero(cst + b * H, a.c ? a.c + r * H : nullptr, H);
  }

  const int64_t nblocks = (H + P - 1) / P;
  const int64_t work = B * (GH * DH + V * H);  // multiply-adds of the step
  const int64_t groups = a.top_k > 0 ? B / a.group_size : 0;
  const float* pw = w.w_peep;
  void (*exp_fn)(const float*, float*, int64_t) = kernels().math.exp;

  parallel(work < ((int64_t)1 << 16) ? 1 : 256, [&](const Team& team) {
    // ---- the cell, on this thread's unit blocks [j0, j1) ----
    int64_t j0, j1;
    split_range(nblocks, 1, team.tid, team.size, &j0, &j1);
    const int64_t u0 = min64(j0 * P, H), u1 = min64(j1 * P, H);
    if (u1 > u0) {
      // Columns of this thread's units: [u0 * G, u1 * G) of ih (blocks are contiguous).
      sgemm_packed(B, u0 * G, u1 * G, xh, DH, cache.ih, gx, GH, false);
      sgemm_packed(B, u0 * Gh, u1 * Gh, xh + D, DH, cache.hh, gh, Gh * H, false);
      for (int64_t j = j0; j < j1; j++) {
        const int64_t v0 = j * P, wu = min64(P, H - v0);
        for (int64_t b = 0; b < B; b++) {
          float* gxr = gx + b * GH + v0 * G;
          const float* ghr = gh + b * Gh * H + v0 * Gh;
          const float* bias = cache.bias.data() + v0 * G;
          const float* hp = xh + b * DH + D + v0;
          float* ho = a.h_out + b * H + v0;
          if (lstm) {
            float* cn = a.c_out + b * H + v0;
            ck.lstm_forward_row(wu, gxr, bias, wu, ghr, wu, pw ? pw + v0 : nullptr,
                                pw ? pw + H + v0 : nullptr, pw ? pw + 2 * H + v0 : nullptr, cst + b * H + v0,
                                gxr, cn, s1 + b * H + v0, ho);
          } else if (gru_after) {
            ck.gru_forward_row(wu, gxr, bias, wu, ghr, wu, cache.b_hn.data() + v0, hp, gxr, s1 + b * H + v0,
                               ho);
          } else if (before) {
            ck.gru_forward_rz_row(wu, gxr, bias, wu, ghr, wu, hp, gxr, s1 + b * H + v0, s2 + b * H + v0);
          } else if (rnn) {
            ck.rnn_forward_row(wu, gxr, bias, ghr, act, ho);
          }
        }
      }
    }
    if (before) {      // phase 2: n = tanh(x_n + b_n + W_hn (r h_prev)), h
      team.barrier();  // every unit's r h_prev (s2) is ready
      if (u1 > u0) {
        sgemm_packed(B, u0, u1, s2, H, cache.hn, s3, H, false);
        for (int64_t j = j0; j < j1; j++) {
          const int64_t v0 = j * P, wu = min64(P, H - v0);
          for (int64_t b = 0; b < B; b++) {
            float* gxr = gx + b * GH + v0 * G;
            ck.gru_forward_n_row(wu, gxr + 2 * wu, cache.bias.data() + v0 * G + 2 * wu, s3 + b * H + v0,
                                 gxr + wu, xh + b * DH + D + v0, gxr + 2 * wu, a.h_out + b * H + v0);
          }
        }
      }
    }
    if (V <= 0) return;
    // ---- the output layer: logits of this thread's column panels, then its row groups ----
    team.barrier();  // h_out complete
    const int64_t nr = cache.nr, npanels = (V + nr - 1) / nr;
    int64_t p0, p1;
    split_range(npanels, 1, team.tid, team.size, &p0, &p1);
    const int64_t c0 = min64(p0 * nr, V), c1 = min64(p1 * nr, V);
    if (c1 > c0) {
      if (w.b_out)
        for (int64_t b = 0; b < B; b++)
          memcpy(logits + b * V + c0, w.b_out + c0, sizeof(float) * (size_t)(c1 - c0));
      sgemm_packed(B, c0, c1, a.h_out, H, cache.out, logits, V, w.b_out != nullptr);
    }
    if (!a.log_probs && a.top_k <= 0) return;
    team.barrier();  // logits complete
    const int64_t gs = a.group_size;
    const int64_t units = a.top_k > 0 ? groups : B;  // row groups (top-k) or rows
    int64_t q0, q1;
    split_range(units, 1, team.tid, team.size, &q0, &q1);
    for (int64_t q = q0; q < q1; q++) {
      const int64_t r0 = a.top_k > 0 ? q * gs : q, nrows = a.top_k > 0 ? gs : 1;
      for (int64_t r = r0; r < r0 + nrows; r++) log_softmax_row(logits + r * V, V, exp_fn);
      if (a.top_k > 0)
        top_k_group(logits + r0 * V, gs, V, a.row_scores ? a.row_scores + r0 : nullptr, a.top_k,
                    a.top_values + q * a.top_k, a.top_indices + q * a.top_k);
    }
  });
}

}  // namespace gated
