// gru.h: the two GRU drivers and what they share (internal to native/; the public entry points are
// gru_forward / gru_backward in cells.h, which pick the driver from reset_after).
//
//   gru_reset_after.cc   n = tanh(x_n + r ⊙ (W_hn h_prev + b_hn))   PyTorch, cuDNN, Keras' default
//                        (oneDNN's "linear-before-reset" GRU); one recurrent product per step.
//   gru_reset_before.cc  n = tanh(x_n + W_hn (r ⊙ h_prev) + b_hn)   Cho et al., ONNX's default; the
//                        n-gate product needs r of every unit, so each step has two phases and two
//                        barriers, forward and backward.
//
// Gradients. Pre-activations a_r = x_r + W_hr h_prev + b_hr (likewise z); with dh the gradient
// reaching h = (1 - z) n + z h_prev:
//   dn_pre = dh (1 - z) (1 - n^2),  dz_pre = dh (h_prev - n) z (1 - z)
// In both, dW_ih = dG^T X, dx = dG W_ih, db_ih = column sums of dG, dW_h{r,z} = [dr_pre, dz_pre]^T H_prev,
// with dG = [dr_pre, dz_pre, dn_pre]. The rest is each driver's (see its header).
#pragma once
#include <stdint.h>

#include "cells.h"

namespace gated {
namespace gru {

// Called by gru_forward / gru_backward for calls with work: T, B, H > 0 (backward: and not
// seq::backward_trivial).
void reset_after_forward(const GruForwardArgs& a);
void reset_after_backward(const GruBackwardArgs& a);
void reset_before_forward(const GruForwardArgs& a);
void reset_before_backward(const GruBackwardArgs& a);

// What both forward drivers set up before their time loop: the workspace (thread arena), the gates
// rows [T*B, 3H] the loop projects x W_ih^T into (the cache's block, or the workspace for
// inference), masked rows of y and the cache zeroed, the folded bias (reset_after keeps b_hn apart:
// it is scaled by r) and h0 in the state buffer.
struct ForwardSetup {
  explicit ForwardSetup(const GruForwardArgs& a);
  GruCacheView<float> cache;  // null blocks for inference
  float* bias;                // [3H]
  float* hbuf;                // [2, B, H] the double-buffered state, h0 in the first half
  float* gh;                  // [B, 3H] the step's recurrent product
  float* gates;               // [T*B, 3H] the projection, activated in place
  float* rh;                  // [B, H] r ⊙ h_prev, reset_before's n-gate operand (zero-filled); else null
  // Where the hn row of cache row r, batch row b, units from u0 goes: the cache's, or for inference
  // a [B, H] scratch row (written by the row kernels, read by nothing).
  float* hn_row(int64_t r, int64_t b, int64_t u0) const {
    return cache.hn ? cache.hn + r * H_ + u0 : hn_scratch_ + b * H_ + u0;
  }

 private:
  int64_t H_;
  float* hn_scratch_ = nullptr;
};

// What both backward drivers share.
// Before the reverse loop: dG [T*B, 3H] (masked rows zeroed), dA [2, B, 3H], dh [B, H] = dh_n, and
// `extra`: [T*B, H] when extra_rows (reset_after's dGhn, masked rows zeroed), else [B, H]
// (reset_before's drh), all from the thread arena.
struct BackwardSetup {
  BackwardSetup(const GruBackwardArgs& a, bool extra_rows);
  float* dG;
  float* dA;
  float* dh;
  float* extra;
};
// After it: dh0 = dh, dW_ih, dx and the r, z rows of dW_hh (dG_{r,z}^T H_prev).
void backward_finish(const GruBackwardArgs& a, const BackwardSetup& w);

}  // namespace gru
}  // namespace gated
