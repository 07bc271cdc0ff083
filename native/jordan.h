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
// Cache, written by forward and read by backward, indexed by time t, row (t, b) at (t*B + b)*width
// in each block (cache_view.h), named once by JordanCacheView below:
//     [yPrev O | h H | y O]                                JordanCacheView::floats = T*B*(2*O + H)
// Backward overwrites every output it is given; dy, dy_n may be null (zero); db_* written when
// non-null. dy at masked positions is ignored; dy_n passes unchanged through masked steps.
// Activation derivatives are taken from the outputs (relu: 1 where h > 0).
// Structure (like rnn.cc, whose row kernels the hidden layer uses): one GEMM projects the inputs of
// all steps; one parallel region runs the time loop, each thread owning hidden units [u0, u1) and
// outputs [o0, o1) (split in multiples of the GEMM panel width), with its rows of W_hy and W_ho
// packed once (or read in place for a few steps of a few rows, as the cells do). A forward step:
// h = act(gx + W_hy y_prev + b) for its units, a barrier, y = act_out(W_ho h + b_ho) for its
// outputs, a barrier. A backward step: the output-side gradients of its outputs, a barrier, the
// hidden-side gradients of its units (dh = dzo W_ho), a barrier, its columns of the fed-back
// gradient (dzh W_hy). Afterwards dW_ih, dW_hy, dW_ho, dx are one GEMM each over all T*B rows and
// the bias gradients column sums in row order.
// Threads: every product is reduced in an order that depends only on the shape (gemm.h) and the
// element-wise kernels give a unit the same bits wherever it falls (cells.inc), so every output is
// bit-identical for any thread count.
#pragma once
#include <stdint.h>

#include "cache_view.h"

namespace gated {

struct JordanShape {
  int64_t T, B, D, H, O;
};

enum class JordanOutActivation : int { Tanh = 0, Sigmoid = 1, Linear = 2 };

// [yPrev O | h H | y O]: the output fed into each step, its hidden state and its output.
template <class F = const float>
struct JordanCacheView {
  static int64_t width(int64_t H, int64_t O) { return 2 * O + H; }  // floats per (t, b)
  static int64_t floats(const JordanShape& s) { return s.T * s.B * width(s.H, s.O); }
  CacheBlocks<F, 3> blocks;
  F* y_prev;
  F* h;
  F* y;
  JordanCacheView(F* base, const JordanShape& s)
      : blocks(base, s.T * s.B), y_prev(blocks.take(s.O)), h(blocks.take(s.H)), y(blocks.take(s.O)) {}
};

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
  int act;  // 0 tanh, 1 relu
  JordanOutActivation act_out;
};

struct JordanForwardArgs {
  JordanInputs in;
  const float* y0;  // [B, O] or null
  float* y;         // [T, B, O]
  float* y_n;       // [B, O]
  float* h;         // [T, B, H] or null
  float* cache;     // [JordanCacheView::floats] or null (inference)
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
