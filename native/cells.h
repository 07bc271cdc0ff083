// cells.h: whole-sequence forward and backward (BPTT) for the simple RNN, LSTM and GRU.
//
// Conventions shared with the pure-JS backend (lib/js/) and tested for parity:
// - Weights in PyTorch's layout and gate order: weight_ih [G*H, D], weight_hh [G*H, H], bias_ih and
//   bias_hh [G*H]; G = kRnnGates, kLstmGates, kGruGates below.
// - Time-major data: x [T, B, D], y [T, B, H]; states [B, H].
// - lengths (optional, each in [0, T]): sequence b runs steps 0..len_b-1; its outputs at t >= len_b
//   are zero and its state is left unchanged there; h_n is the state after its last valid step.
//   reverse: sequence b runs t = len_b-1 down to 0 (the backward half of a bidirectional layer).
//   In "processing step" s, sequence b is at time t = reverse ? len_b-1-s : s, valid while s < len_b.
// - Activations:
//   RNN   h = act(W_ih x + b_ih + W_hh h + b_hh), act tanh or relu.
//   LSTM  i = σ(x_i + h_i + p_i ⊙ c_prev), f = σ(x_f + h_f + p_f ⊙ c_prev), g = tanh(x_g + h_g),
//         c = f ⊙ c_prev + i ⊙ g, o = σ(x_o + h_o + p_o ⊙ c), h = o ⊙ tanh(c),
//         with x_* = W_i* x + b_i*, h_* = W_h* h_prev + b_h*; peepholes p = weight_peephole [3H]
//         in ONNX order (p_i, p_o, p_f), all zero when absent.
//   GRU   r = σ(x_r + h_r), z = σ(x_z + h_z), h = (1 - z) ⊙ n + z ⊙ h_prev, where
//         reset_after (PyTorch, cuDNN):  n = tanh(x_n + r ⊙ (W_hn h_prev + b_hn))
//         reset_before (Cho et al., ONNX default): n = tanh(x_n + W_hn (r ⊙ h_prev) + b_hn).
// - The cache, written by forward and read by backward, is indexed by time t (not processing step),
//   row (t, b) at offset (t*B + b) * width inside each block (cache_view.h). Its blocks are named
//   once, by the view structs below (RnnCacheView, LstmCacheView, GruCacheView), which forward,
//   backward, the binding's size checks and the tests use. Rows at masked positions (t >= len_b)
//   are all zero.
// - Inference: forward with cache == nullptr keeps nothing for backward; y, h_n (and c_n) are
//   bit-identical to a forward with a cache. Its workspace (the input projection [T*B, G*H] and a few
//   [B, H] rows) then comes from the calling thread's grow-only arena (seq_common.h), which the
//   thread keeps for later calls.
// - Backward overwrites every output it is given (it does not accumulate). dy, dh_n, dc_n may be
//   null (zero). db_ih/db_hh are written only when non-null (layers without bias pass null).
//   dy at masked positions (t >= len_b) is ignored (those outputs are constant zeros); a sequence's
//   dh (and dc) passes unchanged through its masked steps, so dh0 = dh_n when len_b = 0.
//   ReLU's derivative is taken from the output: 1 where h > 0, else 0 (0 at pre-activation 0).
#pragma once
#include <stdint.h>

#include "cache_view.h"

namespace gated {

struct SeqShape {
  int64_t T, B, D, H;
};

enum class RnnActivation : int { Tanh = 0, Relu = 1 };

// Gates per hidden unit: weight_ih is [G*H, D], weight_hh [G*H, H], the biases [G*H].
constexpr int64_t kRnnGates = 1;
constexpr int64_t kLstmGates = 4;  // i, f, g, o
constexpr int64_t kGruGates = 3;   // r, z, n
// LSTM peephole vectors in weight_peephole [3H]: p_i, p_o, p_f (ONNX order).
constexpr int64_t kLstmPeepholes = 3;

// The caches. Each view is built from the cache's base pointer (null: no cache, null blocks) and
// (T, B, H); every block is [T*B, width]. kWidth is the cache's floats per (t, b, hidden unit), the
// constant factor of the binding's size check and of lib/backend/types.ts' cacheWidth.

// RNN  [hPrev H | h H]
template <class F = const float>
struct RnnCacheView {
  static constexpr int64_t kWidth = 2;
  static int64_t floats(int64_t T, int64_t B, int64_t H) { return kWidth * T * B * H; }
  CacheBlocks<F, 2> blocks;
  F* h_prev;  // the state each step started from
  F* h;       // the state it produced
  RnnCacheView(F* base, int64_t T, int64_t B, int64_t H)
      : blocks(base, T * B), h_prev(blocks.take(H)), h(blocks.take(H)) {}
};

// LSTM [gates 4H (activated i, f, g, o) | hPrev H | cPrev H | c H | tanh(c) H]
template <class F = const float>
struct LstmCacheView {
  static constexpr int64_t kWidth = kLstmGates + 4;
  static int64_t floats(int64_t T, int64_t B, int64_t H) { return kWidth * T * B * H; }
  CacheBlocks<F, 5> blocks;
  F* gates;
  F* h_prev;
  F* c_prev;
  F* c;
  F* tanh_c;
  LstmCacheView(F* base, int64_t T, int64_t B, int64_t H)
      : blocks(base, T * B),
        gates(blocks.take(kLstmGates * H)),
        h_prev(blocks.take(H)),
        c_prev(blocks.take(H)),
        c(blocks.take(H)),
        tanh_c(blocks.take(H)) {}
};

// GRU  [gates 3H (activated r, z, n) | hPrev H | hn H]
//      hn = W_hn h_prev + b_hn (reset_after) or r ⊙ h_prev (reset_before).
template <class F = const float>
struct GruCacheView {
  static constexpr int64_t kWidth = kGruGates + 2;
  static int64_t floats(int64_t T, int64_t B, int64_t H) { return kWidth * T * B * H; }
  CacheBlocks<F, 3> blocks;
  F* gates;
  F* h_prev;
  F* hn;
  GruCacheView(F* base, int64_t T, int64_t B, int64_t H)
      : blocks(base, T * B), gates(blocks.take(kGruGates * H)), h_prev(blocks.take(H)), hn(blocks.take(H)) {}
};

// Inputs common to every cell. Optional pointers may be null.
struct SeqInputs {
  SeqShape s;
  const float* x;          // [T, B, D]
  const float* w_ih;       // [G*H, D]
  const float* w_hh;       // [G*H, H]
  const float* b_ih;       // [G*H] or null (zero)
  const float* b_hh;       // [G*H] or null (zero)
  const int32_t* lengths;  // [B], each in [0, T], or null (all T)
  bool reverse;
};

// Gradients common to every cell (outputs of backward).
struct SeqGrads {
  float* dx;     // [T, B, D]
  float* dh0;    // [B, H]
  float* dw_ih;  // [G*H, D]
  float* dw_hh;  // [G*H, H]
  float* db_ih;  // [G*H] or null
  float* db_hh;  // [G*H] or null
};

struct RnnForwardArgs {
  SeqInputs in;
  RnnActivation act;
  const float* h0;  // [B, H] or null (zero)
  float* y;         // [T, B, H]
  float* h_n;       // [B, H]
  float* cache;     // [RnnCacheView::floats], or null (inference)
};
struct RnnBackwardArgs {
  SeqInputs in;
  RnnActivation act;
  const float* cache;
  const float* dy;    // [T, B, H] or null
  const float* dh_n;  // [B, H] or null
  SeqGrads g;
};

struct LstmForwardArgs {
  SeqInputs in;
  const float* w_peep;  // [kLstmPeepholes*H] (p_i, p_o, p_f) or null
  const float* h0;      // [B, H] or null
  const float* c0;      // [B, H] or null
  float* y;
  float* h_n;
  float* c_n;
  float* cache;  // [LstmCacheView::floats], or null (inference)
};
struct LstmBackwardArgs {
  SeqInputs in;
  const float* w_peep;  // or null
  const float* cache;
  const float* dy;    // or null
  const float* dh_n;  // or null
  const float* dc_n;  // or null
  SeqGrads g;
  float* dc0;      // [B, H]
  float* dw_peep;  // [kLstmPeepholes*H], written when w_peep is non-null
};

struct GruForwardArgs {
  SeqInputs in;
  bool reset_after;
  const float* h0;  // or null
  float* y;
  float* h_n;
  float* cache;  // [GruCacheView::floats], or null (inference)
};
struct GruBackwardArgs {
  SeqInputs in;
  bool reset_after;
  const float* cache;
  const float* dy;    // or null
  const float* dh_n;  // or null
  SeqGrads g;
};

// Each runs on the kernel pool and takes its workspace once, before the time loop, from the calling
// thread's arena (reused across calls: no fresh pages per call).
// Sizes and pointers are trusted: the binding has checked them.
void rnn_forward(const RnnForwardArgs& a);
void rnn_backward(const RnnBackwardArgs& a);
void lstm_forward(const LstmForwardArgs& a);
void lstm_backward(const LstmBackwardArgs& a);
void gru_forward(const GruForwardArgs& a);
void gru_backward(const GruBackwardArgs& a);

}  // namespace gated
