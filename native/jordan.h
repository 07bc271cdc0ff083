// jordan.h: whole-sequence Jordan network (Jordan 1986) forward and backward (BPTT).
//
// The recurrence goes through the OUTPUT, not the hidden state:
//   h_t = act(W_ih x_t + b_ih + W_hy y_{t-1} + b_hh)      act tanh or relu
//   y_t = act_out(W_ho h_t + b_ho)                         act_out tanh, sigmoid or linear
//   y_{-1} = y0 (null: zeros).
// Shapes: x [T, B, D], weight_ih [H, D], weight_hy [H, O], weight_ho [O, H], bias_ih [H],
// bias_hh [H], bias_ho [O]; outputs y [T, B, O], y_n [B, O] (the output fed back after each
// sequence's own last step), h [T, B, H] (the hidden sequence, optional).
// lengths / reverse: exactly as cells.h (processing step s of sequence b is time
// t = reverse ? len_b-1-s : s, valid while s < len_b); masked rows (t >= len_b) of y, h and of the
// cache are zero, and the fed-back output is carried unchanged through them.
// Cache, written by forward and read by backward, indexed by time t, row (t, b) at (t*B + b)*width:
//     [yPrev O | h H | y O]                                jordan_cache_size = T*B*(2*O + H)
// Backward overwrites every output it is given; dy, dy_n may be null (zero); db_* written when
// non-null. dy at masked positions is ignored; dy_n passes unchanged through masked steps.
// Activation derivatives are taken from the outputs (relu: 1 where h > 0).
// Structure (like rnn.cc): one GEMM projects the inputs of all steps; the time loop runs the two
// small products (W_hy y_prev, W_ho h) and the element-wise activations; backward computes the
// pre-activation gradients per step, then dW_ih, dW_hy, dW_ho, dx as one GEMM each over all T*B
// rows, bias gradients as column sums in row order.
// Threads: the time loop itself is single-threaded (the element-wise work is small); the GEMMs run
// on the kernel pool, whose results do not depend on the thread count (gemm.h), so every output is
// bit-identical for any thread count.
#pragma once
#include <stdint.h>

namespace gated {

struct JordanShape {
  int64_t T, B, D, H, O;
};

enum class JordanOutActivation : int { Tanh = 0, Sigmoid = 1, Linear = 2 };

inline int64_t jordan_cache_size(const JordanShape& s) { return s.T * s.B * (2 * s.O + s.H); }

struct JordanInputs {
  JordanShape s;
  const float* x;          // [T, B, D]
  const float* w_ih;       // [H, D]
  const float* w_hy;       // [H, O]
  const float* w_ho;       // [O, H]
  const float* b_ih;       // [H] or null
  const float* b_hh;       // [H] or null
  const float* b_ho;       // [O] or null
  const int32_t* lengths;  // [B] each in [0, T], or null
  bool reverse;
  int act;                  // 0 tanh, 1 relu
  JordanOutActivation act_out;
};

struct JordanForwardArgs {
  JordanInputs in;
  const float* y0;  // [B, O] or null
  float* y;         // [T, B, O]
  float* y_n;       // [B, O]
  float* h;         // [T, B, H] or null
  float* cache;     // [jordan_cache_size] or null (inference)
};

struct JordanBackwardArgs {
  JordanInputs in;
  const float* cache;
  const float* dy;    // [T, B, O] or null
  const float* dy_n;  // [B, O] or null
  float* dx;          // [T, B, D]
  float* dy0;         // [B, O]
  float* dw_ih;       // [H, D]
  float* dw_hy;       // [H, O]
  float* dw_ho;       // [O, H]
  float* db_ih;       // [H] or null
  float* db_hh;       // [H] or null
  float* db_ho;       // [O] or null
};

// Sizes and pointers are trusted: the binding has checked them.
void jordan_forward(const JordanForwardArgs& a);
void jordan_backward(const JordanBackwardArgs& a);

}  // namespace gated
