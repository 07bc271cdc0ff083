// attention.h: the fused attention decoder (issue 9; contract: the op's spec, lib/ops/attention.ts).
// An L-layer unidirectional decoder (rnn / lstm / gru cells of cells.h, no peepholes) with attention
// over an encoder memory and Luong input feeding, over a whole target sequence in one call (teacher
// forcing), forward and backward (BPTT); with T = 1 and no cache it is the decode step.
//
// Per step t and row b (rows independent):
//   in_0 = inputFeed ? [x_t ; feed_{t-1}] : x_t   (feed_{-1} = feed0 or 0), in_l = h_{l-1}[t]
//   h_l[t] = cell_l(in_l, h_l[t-1], c_l[t-1]);  q = h_{L-1}[t]
//   score_j = q.m_j (dot) | q.(W m_j) (general) | v.tanh(Wq q (+ bq) + Wk m_j) (concat / additive)
//   alpha = softmax over j < srcLengths[b] (alpha_j = 0 exactly beyond), ctx = sum_j alpha_j m_j
//   y_t = feed_t = tanh(Wc [ctx ; q])
// Keys (W m or Wk m, [S*B, Kw]) are computed once per call, or given (a decode loop reuses them).
// The decode step (T = 1, no cache) may also read the memory through a row -> sentence index, gather
// its states by a row index and end with the output layer (AttnForwardArgs' last fields).
//
// Layouts: time-major, row t*B + b; memory [S, B, E] row j*B + b. Cache blocks (rows R = T*B), in
// order: for each layer l: in_l [R, inW_l] then the cell's blocks (cells.h views: lstm gates 4H |
// hPrev | cPrev | c | tanhC; gru gates 3H | hPrev | hn; rnn hPrev | hNew); then hTop [R, H],
// query [R, Aq] (Aq = A for concat / additive, else 0), alpha [R, S], ctx [R, E], y [R, H],
// keys [S*B, Kw] (Kw = 0 dot, H general, A concat / additive). AttnCacheLayout spells it.
//
// Arithmetic: every product goes through gemm.h (one K order per row: batch-invariant); the cell
// updates are the cell row kernels (cell_kernels.h) over a whole row; the attention of a row (scores,
// softmax, context, and in backward their gradients) runs on one thread in a fixed order. So a row's
// outputs do not depend on the batch size, its position or the thread count. Weight gradients are
// sums over rows, in row order.
// Backward recomputes tanh(query + key_j) per step instead of keeping [R, S, A].
#pragma once
#include <stdint.h>

namespace gated {

enum class AttnCell : int { RnnTanh = 0, RnnRelu = 1, Lstm = 2, GruResetAfter = 3, GruResetBefore = 4 };
enum class AttnKind : int { Dot = 0, General = 1, Concat = 2, Additive = 3 };

inline int64_t attn_gates(AttnCell c) {
  return c == AttnCell::Lstm ? 4 : (c == AttnCell::GruResetAfter || c == AttnCell::GruResetBefore) ? 3 : 1;
}

struct AttnSizes {
  int64_t T, B, S, D, E, H, A, L;
  AttnCell cell;
  AttnKind kind;
  bool input_feed;
  int64_t in_width(int64_t l) const { return l == 0 ? D + (input_feed ? H : 0) : H; }
  int64_t key_width() const { return kind == AttnKind::Dot ? 0 : kind == AttnKind::General ? H : A; }
  int64_t query_width() const { return kind == AttnKind::Concat || kind == AttnKind::Additive ? A : 0; }
  // Floats per (row, unit) of the cell's own cache blocks.
  int64_t cell_width() const {
    return cell == AttnCell::Lstm                                                  ? 8
           : (cell == AttnCell::GruResetAfter || cell == AttnCell::GruResetBefore) ? 5
                                                                                   : 2;
  }
};

// Offsets (floats) of the cache blocks; layer_in[l] and layer_cell[l] for l < L.
struct AttnCacheLayout {
  static constexpr int kMaxLayers = 64;
  int64_t layer_in[kMaxLayers], layer_cell[kMaxLayers];
  int64_t h_top, query, alpha, ctx, y, keys, total;
  explicit AttnCacheLayout(const AttnSizes& z);
};
// Floats of the cache (AttnCacheLayout(z).total).
int64_t attn_cache_floats(const AttnSizes& z);

struct AttnLayerWeights {
  const float* w_ih;  // [G*H, inW_l]
  const float* w_hh;  // [G*H, H]
  const float* b_ih;  // [G*H] or null
  const float* b_hh;  // [G*H] or null
};
struct AttnWeights {
  const float* weight;        // general [H, E]; concat [A, H + E]; else null
  const float* query_weight;  // additive [A, H]
  const float* query_bias;    // additive [A]
  const float* key_weight;    // additive [A, E]
  const float* v;             // concat / additive [A]
  const float* out_weight;    // [H, E + H]
};

struct AttnForwardArgs {
  AttnSizes z;
  const AttnLayerWeights* layers;  // [L]
  AttnWeights w;
  const float* x;              // [T, B, D]
  const float* memory;         // [S, B, E]
  const int32_t* src_lengths;  // [B] each in [1, S], or null (all S)
  const float* h0;             // [L, B, H] or null
  const float* c0;             // [L, B, H] (lstm) or null
  const float* feed0;          // [B, H] or null
  const float* keys;           // [S, B, Kw] or null (computed)
  float* y;                    // [T, B, H]
  float* attention;            // [T, B, S] or null
  float* h_n;                  // [L, B, H] (may be h0)
  float* c_n;                  // [L, B, H] (lstm; may be c0)
  float* keys_out;             // [S, B, Kw] or null
  float* cache;                // [attn_cache_floats] or null
  // The decode step's options (only without a cache; 0 / null = off). The memory of M sentences
  // serves B rows (a beam's hypotheses) without being copied per row, and a beam's reorder is the
  // state gather itself; the output layer ends the call with log-probabilities.
  int64_t mem_cols;             // M: memory [S, M, E], src_lengths [M], keys / keys_out [S, M, Kw]; 0 = B
  const int32_t* memory_index;  // [B] each in [0, M): row b attends to column memory_index[b]; null = b
  int64_t state_rows;           // P: h0 / c0 [L, P, H] and feed0 [P, H]; 0 = B
  const int32_t* state_index;   // [B] each in [0, P): row b continues state row state_index[b]; null = b
  int64_t V;                    // the output layer's width
  const float* vocab_weight;    // [V, H] or null (no output layer)
  const float* vocab_bias;      // [V] or null
  float* log_probs;             // [T, B, V] = log_softmax(y vocab_weight^T + vocab_bias) per row
};

struct AttnLayerGrads {
  float* dw_ih;  // [G*H, inW_l]
  float* dw_hh;  // [G*H, H]
  float* db_ih;  // [G*H] or null
  float* db_hh;  // [G*H] or null
};
struct AttnGrads {
  float* d_weight;  // as AttnWeights; null where the variant has none
  float* d_query_weight;
  float* d_query_bias;
  float* d_key_weight;
  float* d_v;
  float* d_out_weight;
};

struct AttnBackwardArgs {
  AttnSizes z;
  const AttnLayerWeights* layers;
  AttnWeights w;
  const float* memory;
  const int32_t* src_lengths;
  const float* cache;       // from a forward with the same arguments
  const float* dy;          // [T, B, H] or null
  const float* dh_n;        // [L, B, H] or null
  const float* dc_n;        // [L, B, H] or null
  const float* dfeed_n;     // [B, H] or null
  float* dx;                // [T, B, D]
  float* d_memory;          // [S, B, E]
  float* dh0;               // [L, B, H]
  float* dc0;               // [L, B, H] (lstm)
  float* dfeed0;            // [B, H]
  AttnLayerGrads* dlayers;  // [L]
  AttnGrads dattn;
};

// Sizes and pointers are trusted (the binding checked them; z.L <= AttnCacheLayout::kMaxLayers).
// Both run on the kernel pool; outputs are overwritten (gradients are not accumulated).
void attn_decoder_forward(const AttnForwardArgs& a);
void attn_decoder_backward(const AttnBackwardArgs& a);

}  // namespace gated
