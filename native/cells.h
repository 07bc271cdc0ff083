// cells.h: whole-sequence forward and backward (BPTT) for the simple RNN, LSTM and GRU.
//
// Conventions shared with the pure-JS backend (lib/js/) and tested for parity:
// - Weights in PyTorch's layout and gate order: weight_ih [G*H, D], weight_hh [G*H, H], bias_ih and
//   bias_hh [G*H]. Gates: RNN G=1; LSTM G=4 (i, f, g, o); GRU G=3 (r, z, n).
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
//   row (t, b) at offset (t*B + b) * width inside each block. Blocks, in this order:
//     RNN  [hPrev H | hNew H]                                  rnn_cache_size  = 2 * T*B*H
//     LSTM [gates 4H (activated i,f,g,o) | hPrev H | cPrev H | c H | tanh(c) H]
//                                                              lstm_cache_size = 8 * T*B*H
//     GRU  [gates 3H (activated r,z,n) | hPrev H | hn H]       gru_cache_size  = 5 * T*B*H
//          hn = W_hn h_prev + b_hn (reset_after) or r ⊙ h_prev (reset_before).
//   Rows at masked positions (t >= len_b) are all zero. Each block is T*B*width floats.
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

namespace gated {

struct SeqShape {
  int64_t T, B, D, H;
};

enum class RnnActivation : int { Tanh = 0, Relu = 1 };

inline int64_t rnn_cache_size(const SeqShape& s) { return 2 * s.T * s.B * s.H; }
inline int64_t lstm_cache_size(const SeqShape& s) { return 8 * s.T * s.B * s.H; }
inline int64_t gru_cache_size(const SeqShape& s) { return 5 * s.T * s.B * s.H; }

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
  float* cache;     // [rnn_cache_size], or null (inference)
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
  const float* w_peep;  // [3H] (p_i, p_o, p_f) or null
  const float* h0;      // [B, H] or null
  const float* c0;      // [B, H] or null
  float* y;
  float* h_n;
  float* c_n;
  float* cache;  // [lstm_cache_size], or null (inference)
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
  float* dw_peep;  // [3H], written when w_peep is non-null
};

struct GruForwardArgs {
  SeqInputs in;
  bool reset_after;
  const float* h0;  // or null
  float* y;
  float* h_n;
  float* cache;  // [gru_cache_size], or null (inference)
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
