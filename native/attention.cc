// attention.cc: the fused attention decoder (contract: attention.h). The time loop runs on the
// calling thread; each step's products are pool-parallel over column panels (weights packed once per
// call when the call has a few steps, read in place for a decode step), and the element-wise and
// attention work of a step is pool-parallel over batch rows (one thread per row: fixed order).
#include "attention.h"

#include <math.h>
#include <string.h>

#include <memory>
#include <vector>

#include "cell_kernels.h"
#include "dispatch.h"
#include "gemm.h"
#include "nn.h"
#include "pool.h"
#include "seq_common.h"

namespace gated {

AttnCacheLayout::AttnCacheLayout(const AttnSizes& z) {
  const int64_t R = z.T * z.B;
  int64_t at = 0;
  for (int64_t l = 0; l < z.L && l < kMaxLayers; l++) {
    layer_in[l] = at;
    at += R * z.in_width(l);
    layer_cell[l] = at;
    at += R * z.cell_width() * z.H;
  }
  h_top = at;
  at += R * z.H;
  query = at;
  at += R * z.query_width();
  alpha = at;
  at += R * z.S;
  ctx = at;
  at += R * z.E;
  y = at;
  at += R * z.H;
  keys = at;
  at += z.S * z.B * z.key_width();
  total = at;
}

int64_t attn_cache_floats(const AttnSizes& z) { return AttnCacheLayout(z).total; }

namespace {

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// A grow-only per-thread arena of its own (seq::thread_arena is the cells'; the two never overlap),
// carved into any number of arrays, each 64-byte aligned.
class Arena {
 public:
  void add(float** slot, int64_t n) {
    slots_.push_back(slot);
    offsets_.push_back(total_);
    total_ += ((n > 0 ? n : 0) + 15) / 16 * 16;
  }
  void take() {
    static thread_local AlignedFloats blk;  // starts on a cache line (gemm.h)
    const int64_t need = total_ > 0 ? total_ : 16;
    if (need > (int64_t)blk.size()) {
      blk = AlignedFloats();  // free first: old + new at once would double the peak
      blk.resize((size_t)need);
    }
    float* base = blk.data();
    for (size_t i = 0; i < slots_.size(); i++) *slots_[i] = base + offsets_[i];
  }

 private:
  std::vector<float**> slots_;
  std::vector<int64_t> offsets_;
  int64_t total_ = 0;
};

// Packed weights kept per thread between calls (no fresh pages per call).
PackedB& pack_slot(size_t i) {
  static thread_local std::vector<std::unique_ptr<PackedB>> slots;
  while (slots.size() <= i) slots.emplace_back(new PackedB());
  return *slots[i];
}

// op(W) [K, N] of a product C = A op(W): W stored [N, K] (trans, a PyTorch weight read as W^T) or
// [K, N]; packed (pk) or read in place.
struct Mat {
  const float* w = nullptr;
  int64_t ld = 0, K = 0, N = 0;
  bool trans = false;
  const PackedB* pk = nullptr;
};

Mat make_mat(const float* w, int64_t ld, int64_t K, int64_t N, bool trans, bool pack, size_t* slot) {
  Mat m;
  m.w = w;
  m.ld = ld;
  m.K = K;
  m.N = N;
  m.trans = trans;
  if (pack && K > 0 && N > 0) {
    PackedB& p = pack_slot((*slot)++);
    pack_b(trans, K, N, w, ld, &p);
    m.pk = &p;
  }
  return m;
}

// C [M, N] (+)= A [M, K] op(W). Same bits whichever path (gemm.h).
void mul(int64_t M, const float* A, int64_t lda, const Mat& m, float* C, int64_t ldc, bool acc) {
  if (M <= 0 || m.N <= 0) return;
  if (m.K <= 0) {
    if (!acc)
      for (int64_t r = 0; r < M; r++) memset(C + r * ldc, 0, sizeof(float) * (size_t)m.N);
    return;
  }
  if (!m.pk) {
    sgemm(false, m.trans, M, m.N, m.K, A, lda, m.w, m.ld, C, ldc, acc);
    return;
  }
  const int64_t P = gemm_panel_width();
  const int64_t work = M * m.N * m.K;
  parallel(work < ((int64_t)1 << 16) ? 1 : 256, [&](const Team& team) {
    int64_t n0, n1;
    split_range(m.N, P, team.tid, team.size, &n0, &n1);
    if (n1 > n0) sgemm_packed(M, n0, n1, A, lda, *m.pk, C, ldc, acc);
  });
}

// fn(b) for each row b in [0, B), each row on one thread.
template <class Fn>
void for_rows(int64_t B, int64_t work_per_row, Fn&& fn) {
  if (B * work_per_row < ((int64_t)1 << 14) || B == 1) {
    for (int64_t b = 0; b < B; b++) fn(b);
    return;
  }
  parallel((int)min64(B, 256), [&](const Team& team) {
    int64_t b0, b1;
    split_range(B, 1, team.tid, team.size, &b0, &b1);
    for (int64_t b = b0; b < b1; b++) fn(b);
  });
}

// Fixed-order dot product: 8 partial sums (element i into sum i % 8), then a fixed tree. Plain C++
// (no reassociation allowed): the same bits on every ISA and for every row, and 8 independent
// chains instead of one long dependency chain.
inline float dotf(const float* a, const float* b, int64_t n) {
  float p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++) p[k] += a[i + k] * b[i + k];
  for (int k = 0; i < n; i++, k++) p[k] += a[i] * b[i];
  return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}
inline void axpy(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += alpha * x[i];
}

// Per-thread scratch rows for the attention of one row.
float* row_scratch(int64_t n) {
  static thread_local std::vector<float> v;
  if ((int64_t)v.size() < n) v.resize((size_t)n);
  return v.data();
}

struct LayerMats {
  Mat ih, hh, hn;  // forward: in W_ih^T, h W_hh^T (reset-before: gates r z; hn: W_hn^T)
};

// Folded biases of layer l ([G*H]): b_ih + b_hh, except GRU reset-after's gate n (b_ih alone; its
// b_hh goes into b_hn [H]).
void fold(const AttnSizes& z, const AttnLayerWeights& lw, float* bias, float* b_hn) {
  const int64_t H = z.H, G = attn_gates(z.cell);
  const int64_t split = z.cell == AttnCell::GruResetAfter ? 2 : G;
  for (int64_t k = 0; k < G * H; k++) {
    float v = lw.b_ih ? lw.b_ih[k] : 0.0f;
    if (k < split * H && lw.b_hh) v += lw.b_hh[k];
    bias[k] = v;
  }
  for (int64_t k = 0; k < H; k++)
    b_hn[k] = z.cell == AttnCell::GruResetAfter && lw.b_hh ? lw.b_hh[2 * H + k] : 0.0f;
}

// Key weights: op(Wk) [E, Kw] as a Mat (trans), or null for dot.
void key_weight(const AttnSizes& z, const AttnWeights& w, const float** wk, int64_t* ld) {
  *wk = nullptr;
  *ld = 0;
  if (z.kind == AttnKind::General) {
    *wk = w.weight;
    *ld = z.E;
  } else if (z.kind == AttnKind::Concat) {
    *wk = w.weight + z.H;
    *ld = z.H + z.E;
  } else if (z.kind == AttnKind::Additive) {
    *wk = w.key_weight;
    *ld = z.E;
  }
}
void query_weight(const AttnSizes& z, const AttnWeights& w, const float** wq, int64_t* ld) {
  *wq = nullptr;
  *ld = 0;
  if (z.kind == AttnKind::Concat) {
    *wq = w.weight;
    *ld = z.H + z.E;
  } else if (z.kind == AttnKind::Additive) {
    *wq = w.query_weight;
    *ld = z.H;
  }
}

}  // namespace

void attn_decoder_forward(const AttnForwardArgs& a) {
  const AttnSizes& z = a.z;
  const int64_t T = z.T, B = z.B, S = z.S, D = z.D, E = z.E, H = z.H, L = z.L, G = attn_gates(z.cell);
  const int64_t GH = G * H, Kw = z.key_width(), Aq = z.query_width(), EH = E + H;
  const bool lstm = z.cell == AttnCell::Lstm, before = z.cell == AttnCell::GruResetBefore;
  const bool after = z.cell == AttnCell::GruResetAfter;
  const int act = z.cell == AttnCell::RnnRelu ? 1 : 0;
  const CellKernels& ck = kernels().cell;
  const MathKernels& mk = kernels().math;
  const AttnCacheLayout lay(z);
  // The decode step's gathers (attention.h): memory column and state row of each row b.
  const int64_t M = a.mem_cols > 0 ? a.mem_cols : B, P = a.state_rows > 0 ? a.state_rows : B;
  const int32_t *mi = a.memory_index, *si = a.state_index;

  float *cache = a.cache, *hs, *cs, *gx, *gh, *ghn, *rh, *cq, *bias, *bhn, *kbuf;
  Arena ws;
  if (!cache) ws.add(&cache, lay.total);
  ws.add(&kbuf, !a.cache && !a.keys && !a.keys_out ? S * M * Kw : 0);
  ws.add(&hs, L * B * H);
  ws.add(&cs, L * B * H);
  ws.add(&gx, B * GH);
  ws.add(&gh, B * GH);
  ws.add(&ghn, before ? B * H : 0);
  ws.add(&rh, before ? B * H : 0);
  ws.add(&cq, B * EH);
  ws.add(&bias, L * GH);
  ws.add(&bhn, L * H);
  ws.take();
  // hs / cs [L, B, H]: row b of layer l starts from row si[b] (or b) of h0 / c0 [L, P, H].
  auto gather_state = [&](float* dst, const float* src) {
    if (!src || !si) {
      seq::copy_or_zero(dst, src, L * B * H);
      return;
    }
    for (int64_t l = 0; l < L; l++)
      for (int64_t b = 0; b < B; b++)
        memcpy(dst + (l * B + b) * H, src + (l * P + si[b]) * H, sizeof(float) * (size_t)H);
  };
  gather_state(hs, a.h0);
  gather_state(cs, lstm ? a.c0 : nullptr);
  for (int64_t l = 0; l < L; l++) fold(z, a.layers[l], bias + l * GH, bhn + l * H);

  // Pack the weights once per call when it has steps enough to pay for it (a speed choice only).
  const bool pack = T >= 3;
  size_t slot = 0;
  std::vector<LayerMats> lm((size_t)L);
  for (int64_t l = 0; l < L; l++) {
    const AttnLayerWeights& lw = a.layers[l];
    const int64_t inw = z.in_width(l);
    lm[l].ih = make_mat(lw.w_ih, inw, inw, GH, true, pack, &slot);
    lm[l].hh = make_mat(lw.w_hh, H, H, before ? 2 * H : GH, true, pack, &slot);
    if (before) lm[l].hn = make_mat(lw.w_hh + 2 * H * H, H, H, H, true, pack, &slot);
  }
  const float* wq;
  int64_t ldq;
  query_weight(z, a.w, &wq, &ldq);
  Mat mq, mc = make_mat(a.w.out_weight, EH, EH, H, true, pack, &slot);
  if (wq) mq = make_mat(wq, ldq, H, Aq, true, pack, &slot);

  // Keys [S, M, Kw]: given, or computed once (into the cache's block, keys_out or scratch), and
  // copied out for the caller. Without a cache, given keys are read in place.
  const float* keys = nullptr;
  const int64_t SM = S * M;
  if (Kw > 0) {
    if (a.keys && !a.cache) {
      keys = a.keys;
    } else {
      float* kd = a.cache ? cache + lay.keys : a.keys_out ? a.keys_out : kbuf;
      if (a.keys) {
        memcpy(kd, a.keys, sizeof(float) * (size_t)(SM * Kw));
      } else {
        const float* wk;
        int64_t ldk;
        key_weight(z, a.w, &wk, &ldk);
        seq::gemm(false, true, SM, Kw, E, a.memory, E, wk, ldk, kd, Kw, false);
      }
      keys = kd;
    }
    if (a.keys_out && keys != a.keys_out) memcpy(a.keys_out, keys, sizeof(float) * (size_t)(SM * Kw));
  }

  for (int64_t t = 0; t < T; t++) {
    const int64_t r0 = t * B;
    for (int64_t l = 0; l < L; l++) {
      const int64_t inw = z.in_width(l);
      float* in = cache + lay.layer_in[l] + r0 * inw;
      if (l == 0) {
        for (int64_t b = 0; b < B; b++) {
          if (D > 0) memcpy(in + b * inw, a.x + (r0 + b) * D, sizeof(float) * (size_t)D);
          if (z.input_feed) {
            const float* fp = t > 0 ? cache + lay.y + (r0 - B + b) * H
                                    : (a.feed0 ? a.feed0 + (si ? si[b] : b) * H : nullptr);
            seq::copy_or_zero(in + b * inw + D, fp, H);
          }
        }
      } else {
        memcpy(in, hs + (l - 1) * B * H, sizeof(float) * (size_t)(B * H));
      }
      float* hl = hs + l * B * H;
      float* cl = cs + l * B * H;
      float* cb = cache + lay.layer_cell[l];
      mul(B, in, inw, lm[l].ih, gx, GH, false);
      mul(B, hl, H, lm[l].hh, gh, GH, false);
      const float* bl = bias + l * GH;
      const float* bn = bhn + l * H;
      if (lstm) {
        LstmCacheView<float> v(cb, T, B, H);
        memcpy(v.h_prev + r0 * H, hl, sizeof(float) * (size_t)(B * H));
        memcpy(v.c_prev + r0 * H, cl, sizeof(float) * (size_t)(B * H));
        for_rows(B, GH, [&](int64_t b) {
          const int64_t r = r0 + b;
          ck.lstm_forward_row(H, gx + b * GH, bl, H, gh + b * GH, H, nullptr, nullptr, nullptr,
                              v.c_prev + r * H, v.gates + r * GH, v.c + r * H, v.tanh_c + r * H, hl + b * H);
          memcpy(cl + b * H, v.c + r * H, sizeof(float) * (size_t)H);
        });
      } else if (after) {
        GruCacheView<float> v(cb, T, B, H);
        memcpy(v.h_prev + r0 * H, hl, sizeof(float) * (size_t)(B * H));
        for_rows(B, GH, [&](int64_t b) {
          const int64_t r = r0 + b;
          ck.gru_forward_row(H, gx + b * GH, bl, H, gh + b * GH, H, bn, v.h_prev + r * H, v.gates + r * GH,
                             v.hn + r * H, hl + b * H);
        });
      } else if (before) {
        GruCacheView<float> v(cb, T, B, H);
        memcpy(v.h_prev + r0 * H, hl, sizeof(float) * (size_t)(B * H));
        for_rows(B, GH, [&](int64_t b) {
          const int64_t r = r0 + b;
          ck.gru_forward_rz_row(H, gx + b * GH, bl, H, gh + b * GH, H, v.h_prev + r * H, v.gates + r * GH,
                                v.hn + r * H, rh + b * H);
        });
        mul(B, rh, H, lm[l].hn, ghn, H, false);
        for_rows(B, GH, [&](int64_t b) {
          const int64_t r = r0 + b;
          float* gr = v.gates + r * GH;
          ck.gru_forward_n_row(H, gx + b * GH + 2 * H, bl + 2 * H, ghn + b * H, gr + H, v.h_prev + r * H,
                               gr + 2 * H, hl + b * H);
        });
      } else {
        RnnCacheView<float> v(cb, T, B, H);
        memcpy(v.h_prev + r0 * H, hl, sizeof(float) * (size_t)(B * H));
        for_rows(B, GH, [&](int64_t b) {
          const int64_t r = r0 + b;
          ck.rnn_forward_row(H, gx + b * GH, bl, gh + b * GH, act, v.h + r * H);
          memcpy(hl + b * H, v.h + r * H, sizeof(float) * (size_t)H);
        });
      }
    }
    // ---- attention over the memory, query q = top layer's h ----
    const float* q = hs + (L - 1) * B * H;
    memcpy(cache + lay.h_top + r0 * H, q, sizeof(float) * (size_t)(B * H));
    float* query = cache + lay.query + r0 * Aq;
    if (Aq > 0) {
      mul(B, q, H, mq, query, Aq, false);
      if (z.kind == AttnKind::Additive)
        for (int64_t b = 0; b < B; b++)
          for (int64_t k = 0; k < Aq; k++) query[b * Aq + k] += a.w.query_bias[k];
    }
    for_rows(B, S * (E + Kw + 1), [&](int64_t b) {
      const int64_t r = r0 + b, col = mi ? mi[b] : b, len = a.src_lengths ? a.src_lengths[col] : S;
      const float* qb = q + b * H;
      float* al = cache + lay.alpha + r * S;
      float* u = row_scratch(Aq > 0 ? Aq : 1);
      for (int64_t j = 0; j < len; j++) {
        const float* mj = a.memory + (j * M + col) * E;
        const float* kj = keys + (j * M + col) * Kw;
        float s;
        if (z.kind == AttnKind::Dot) {
          s = dotf(qb, mj, H);
        } else if (z.kind == AttnKind::General) {
          s = dotf(qb, kj, H);
        } else {
          for (int64_t k = 0; k < Aq; k++) u[k] = query[b * Aq + k] + kj[k];
          mk.tanh(u, u, Aq);
          s = dotf(a.w.v, u, Aq);
        }
        al[j] = s;
      }
      float m = al[0];
      for (int64_t j = 1; j < len; j++) m = al[j] > m ? al[j] : m;
      for (int64_t j = 0; j < len; j++) al[j] -= m;
      mk.exp(al, al, len);
      float sum = 0.0f;
      for (int64_t j = 0; j < len; j++) sum += al[j];
      const float inv = 1.0f / sum;
      for (int64_t j = 0; j < len; j++) al[j] *= inv;
      for (int64_t j = len; j < S; j++) al[j] = 0.0f;
      float* ctx = cache + lay.ctx + r * E;
      memset(ctx, 0, sizeof(float) * (size_t)E);
      for (int64_t j = 0; j < len; j++) axpy(al[j], a.memory + (j * M + col) * E, ctx, E);
      memcpy(cq + b * EH, ctx, sizeof(float) * (size_t)E);
      memcpy(cq + b * EH + E, qb, sizeof(float) * (size_t)H);
    });
    float* yb = cache + lay.y + r0 * H;
    mul(B, cq, EH, mc, yb, H, false);
    for (int64_t b = 0; b < B; b++) mk.tanh(yb + b * H, yb + b * H, H);
  }
  const int64_t R = T * B;
  memcpy(a.y, cache + lay.y, sizeof(float) * (size_t)(R * H));
  if (a.attention) memcpy(a.attention, cache + lay.alpha, sizeof(float) * (size_t)(R * S));
  memcpy(a.h_n, hs, sizeof(float) * (size_t)(L * B * H));
  if (lstm && a.c_n) memcpy(a.c_n, cs, sizeof(float) * (size_t)(L * B * H));
  if (a.vocab_weight) {
    // The output layer: log_softmax(y W^T + b), each row on its own (gemm.h: batch-invariant).
    const int64_t V = a.V;
    linear_forward(cache + lay.y, a.vocab_weight, a.vocab_bias, R, H, V, a.log_probs);
    for_rows(R, V, [&](int64_t r) { log_softmax_row(a.log_probs + r * V, V, mk.exp); });
  }
}

void attn_decoder_backward(const AttnBackwardArgs& a) {
  const AttnSizes& z = a.z;
  const int64_t T = z.T, B = z.B, S = z.S, D = z.D, E = z.E, H = z.H, L = z.L, G = attn_gates(z.cell);
  const int64_t GH = G * H, Kw = z.key_width(), Aq = z.query_width(), EH = E + H, SB = S * B, R = T * B;
  const bool lstm = z.cell == AttnCell::Lstm, before = z.cell == AttnCell::GruResetBefore;
  const bool after = z.cell == AttnCell::GruResetAfter;
  const int act = z.cell == AttnCell::RnnRelu ? 1 : 0;
  const CellKernels& ck = kernels().cell;
  const MathKernels& mk = kernels().math;
  const AttnCacheLayout lay(z);
  const float* cache = a.cache;
  int64_t maxw = H;
  for (int64_t l = 0; l < L; l++) maxw = z.in_width(l) > maxw ? z.in_width(l) : maxw;

  float *dhs, *dcs, *dfeed, *dpy, *dcq, *dG, *dA, *drh, *din0, *din1, *dkeys, *dquery, *dvrow;
  Arena ws;
  ws.add(&dhs, L * B * H);
  ws.add(&dcs, L * B * H);
  ws.add(&dfeed, B * H);
  ws.add(&dpy, R * H);
  ws.add(&dcq, B * EH);
  ws.add(&dG, 2 * L * R * GH);  // per layer: dGx [R, GH] then dGh [R, GH]
  ws.add(&dA, B * GH);
  ws.add(&drh, before ? B * H : 0);
  ws.add(&din0, B * maxw);
  ws.add(&din1, B * maxw);
  ws.add(&dkeys, SB * Kw);
  ws.add(&dquery, R * Aq);
  ws.add(&dvrow, B * Aq);
  ws.take();
  seq::copy_or_zero(dhs, a.dh_n, L * B * H);
  seq::copy_or_zero(dcs, lstm ? a.dc_n : nullptr, L * B * H);
  seq::copy_or_zero(dfeed, a.dfeed_n, B * H);
  seq::copy_or_zero(a.d_memory, nullptr, SB * E);
  seq::copy_or_zero(dkeys, nullptr, SB * Kw);
  seq::copy_or_zero(dvrow, nullptr, B * Aq);

  const bool pack = T >= 3;
  size_t slot = 0;
  // Backward products: dh += dGh W_hh (op = W_hh [GH, H] as stored), d in = dGx W_ih.
  std::vector<LayerMats> lm((size_t)L);
  for (int64_t l = 0; l < L; l++) {
    const AttnLayerWeights& lw = a.layers[l];
    const int64_t inw = z.in_width(l);
    lm[l].ih = make_mat(lw.w_ih, inw, GH, inw, false, pack, &slot);
    lm[l].hh = make_mat(lw.w_hh, H, before ? 2 * H : GH, H, false, pack, &slot);
    if (before) lm[l].hn = make_mat(lw.w_hh + 2 * H * H, H, H, H, false, pack, &slot);
  }
  const float* wq;
  int64_t ldq;
  query_weight(z, a.w, &wq, &ldq);
  Mat mq, mc = make_mat(a.w.out_weight, EH, H, EH, false, pack, &slot);
  if (wq) mq = make_mat(wq, ldq, Aq, H, false, pack, &slot);
  const float* keys = cache + lay.keys;
  const float* ctxs = cache + lay.ctx;
  const float* htop = cache + lay.h_top;
  const float* alphas = cache + lay.alpha;
  const float* queries = cache + lay.query;

  for (int64_t t = T - 1; t >= 0; t--) {
    const int64_t r0 = t * B;
    // dy_t + the feed gradient from step t+1 -> pre-tanh gradient of y.
    for (int64_t b = 0; b < B; b++) {
      const int64_t r = r0 + b;
      const float* yr = cache + lay.y + r * H;
      float* d = dpy + r * H;
      for (int64_t k = 0; k < H; k++) {
        const float g = (a.dy ? a.dy[r * H + k] : 0.0f) + dfeed[b * H + k];
        d[k] = g * (1.0f - yr[k] * yr[k]);
      }
    }
    mul(B, dpy + r0 * H, H, mc, dcq, EH, false);  // [dctx ; dq]
    for_rows(B, S * (2 * E + Kw + Aq + 1), [&](int64_t b) {
      const int64_t r = r0 + b, len = a.src_lengths ? a.src_lengths[b] : S;
      const float* dctx = dcq + b * EH;
      float* dq = dcq + b * EH + E;
      const float* qb = htop + r * H;
      const float* al = alphas + r * S;
      float* sc = row_scratch(S + 2 * (Aq > 0 ? Aq : 1));
      float* u = sc + S;
      float* dqa = dquery + r * Aq;
      for (int64_t k = 0; k < Aq; k++) dqa[k] = 0.0f;
      float dot_ad = 0.0f;
      for (int64_t j = 0; j < len; j++) {
        const float* mj = a.memory + (j * B + b) * E;
        const float da = dotf(dctx, mj, E);
        sc[j] = da;
        dot_ad += al[j] * da;
        axpy(al[j], dctx, a.d_memory + (j * B + b) * E, E);
      }
      for (int64_t j = 0; j < len; j++) {
        const float ds = al[j] * (sc[j] - dot_ad);
        if (z.kind == AttnKind::Dot) {
          axpy(ds, a.memory + (j * B + b) * E, dq, H);
          axpy(ds, qb, a.d_memory + (j * B + b) * E, H);
        } else if (z.kind == AttnKind::General) {
          axpy(ds, keys + (j * B + b) * Kw, dq, H);
          axpy(ds, qb, dkeys + (j * B + b) * Kw, H);
        } else {
          const float* kj = keys + (j * B + b) * Kw;
          for (int64_t k = 0; k < Aq; k++) u[k] = queries[r * Aq + k] + kj[k];
          mk.tanh(u, u, Aq);
          float* dv = dvrow + b * Aq;
          float* dk = dkeys + (j * B + b) * Kw;
          for (int64_t k = 0; k < Aq; k++) {
            dv[k] += ds * u[k];
            const float dzk = ds * a.w.v[k] * (1.0f - u[k] * u[k]);
            dqa[k] += dzk;
            dk[k] += dzk;
          }
        }
      }
    });
    if (Aq > 0) mul(B, dquery + r0 * Aq, Aq, mq, dcq + E, EH, true);
    // ---- the layers, top down ----
    const float* dyl = dcq + E;
    int64_t ldy = EH;
    for (int64_t l = L - 1; l >= 0; l--) {
      const int64_t inw = z.in_width(l);
      float* dh = dhs + l * B * H;
      float* dc = dcs + l * B * H;
      float* dGx = dG + 2 * l * R * GH + r0 * GH;
      float* dGh = dGx + R * GH;
      const float* cb = cache + lay.layer_cell[l];
      if (lstm) {
        LstmCacheView<> v(cb, T, B, H);
        for_rows(B, GH, [&](int64_t b) {
          const int64_t r = r0 + b;
          ck.lstm_backward_row(H, dh + b * H, dyl + b * ldy, dc + b * H, v.gates + r * GH, H,
                               v.c_prev + r * H, v.tanh_c + r * H, nullptr, nullptr, nullptr, dGx + b * GH,
                               dGh + b * GH);
        });
        mul(B, dGh, GH, lm[l].hh, dh, H, true);
      } else if (after) {
        GruCacheView<> v(cb, T, B, H);
        for_rows(B, GH, [&](int64_t b) {
          const int64_t r = r0 + b;
          ck.gru_backward_row(H, dh + b * H, dyl + b * ldy, v.gates + r * GH, H, v.h_prev + r * H,
                              v.hn + r * H, dGx + b * GH, dGh + b * GH);
        });
        mul(B, dGh, GH, lm[l].hh, dh, H, true);
      } else if (before) {
        GruCacheView<> v(cb, T, B, H);
        for_rows(B, GH, [&](int64_t b) {
          const int64_t r = r0 + b;
          ck.gru_backward_zn_row(H, dh + b * H, dyl + b * ldy, v.gates + r * GH, H, v.h_prev + r * H,
                                 dGx + b * GH, dGh + b * GH);
        });
        mul(B, dGh + 2 * H, GH, lm[l].hn, drh, H, false);
        for_rows(B, GH, [&](int64_t b) {
          const int64_t r = r0 + b;
          ck.gru_backward_r_row(H, drh + b * H, v.gates + r * GH, v.h_prev + r * H, dh + b * H, dGx + b * GH,
                                dGh + b * GH);
        });
        mul(B, dGh, GH, lm[l].hh, dh, H, true);
      } else {
        RnnCacheView<> v(cb, T, B, H);
        for_rows(B, GH, [&](int64_t b) {
          const int64_t r = r0 + b;
          ck.rnn_backward_row(H, dh + b * H, dyl + b * ldy, v.h + r * H, act, dGx + b * GH, dGh + b * GH);
        });
        mul(B, dGh, GH, lm[l].hh, dh, H, true);
      }
      float* din = (l & 1) ? din1 : din0;
      mul(B, dGx, GH, lm[l].ih, din, inw, false);
      dyl = din;
      ldy = inw;
      if (l == 0) {
        for (int64_t b = 0; b < B; b++) {
          if (D > 0) memcpy(a.dx + (r0 + b) * D, din + b * inw, sizeof(float) * (size_t)D);
          seq::copy_or_zero(dfeed + b * H, z.input_feed ? din + b * inw + D : nullptr, H);
        }
      }
    }
  }
  memcpy(a.dh0, dhs, sizeof(float) * (size_t)(L * B * H));
  if (lstm && a.dc0) memcpy(a.dc0, dcs, sizeof(float) * (size_t)(L * B * H));
  memcpy(a.dfeed0, dfeed, sizeof(float) * (size_t)(B * H));

  // ---- weight gradients: sums over all rows, one GEMM / column reduction each ----
  for (int64_t l = 0; l < L; l++) {
    const int64_t inw = z.in_width(l);
    const float* dGx = dG + 2 * l * R * GH;
    const float* dGh = dGx + R * GH;
    const float* in = cache + lay.layer_in[l];
    const float* hprev = cache + lay.layer_cell[l] + (lstm ? 4 * R * H : before || after ? 3 * R * H : 0);
    const AttnLayerGrads& g = a.dlayers[l];
    seq::gemm(true, false, GH, inw, R, dGx, GH, in, inw, g.dw_ih, inw, false);
    if (before) {
      GruCacheView<> v(cache + lay.layer_cell[l], T, B, H);
      seq::gemm(true, false, 2 * H, H, R, dGh, GH, hprev, H, g.dw_hh, H, false);
      seq::gemm(true, false, H, H, R, dGh + 2 * H, GH, v.hn, H, g.dw_hh + 2 * H * H, H, false);
    } else {
      seq::gemm(true, false, GH, H, R, dGh, GH, hprev, H, g.dw_hh, H, false);
    }
    if (g.db_ih) seq::col_sum(R, GH, dGx, GH, g.db_ih);
    if (g.db_hh) seq::col_sum(R, GH, dGh, GH, g.db_hh);
  }
  float* dwc = a.dattn.d_out_weight;  // [H, E + H]
  seq::gemm(true, false, H, E, R, dpy, H, ctxs, E, dwc, EH, false);
  seq::gemm(true, false, H, H, R, dpy, H, htop, H, dwc + E, EH, false);
  if (z.kind == AttnKind::General) {
    seq::gemm(true, false, H, E, SB, dkeys, H, a.memory, E, a.dattn.d_weight, E, false);
    seq::gemm(false, false, SB, E, H, dkeys, H, a.w.weight, E, a.d_memory, E, true);
  } else if (Aq > 0) {
    const float* wk;
    int64_t ldk;
    key_weight(z, a.w, &wk, &ldk);
    float* dwq = z.kind == AttnKind::Concat ? a.dattn.d_weight : a.dattn.d_query_weight;
    float* dwk = z.kind == AttnKind::Concat ? a.dattn.d_weight + H : a.dattn.d_key_weight;
    seq::gemm(true, false, Aq, H, R, dquery, Aq, htop, H, dwq, ldq, false);
    seq::gemm(true, false, Aq, E, SB, dkeys, Aq, a.memory, E, dwk, ldk, false);
    seq::gemm(false, false, SB, E, Aq, dkeys, Aq, wk, ldk, a.d_memory, E, true);
    if (z.kind == AttnKind::Additive) seq::col_sum(R, Aq, dquery, Aq, a.dattn.d_query_bias);
    seq::col_sum(B, Aq, dvrow, Aq, a.dattn.d_v);
  }
}

}  // namespace gated
