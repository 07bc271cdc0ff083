// train.h: losses and optimizers, the training kernels behind lib/train/kernels.ts (the pure-TS
// twin is lib/js/train.ts; both are tested for parity).
//
// Losses (loss.cc) return the loss value and write the gradient with respect to their input in the
// same pass. Every reduction runs in a fixed order with double accumulation on the calling thread,
// so the result does not depend on the thread count. Reductions:
//   Sum   the weighted sum of the per-row losses;
//   Mean  softmax cross-entropy: that sum / the sum of the weights of the rows that count (PyTorch's
//         CrossEntropyLoss with ignore_index / class weights); BCE and MSE: that sum / n (PyTorch's
//         BCEWithLogitsLoss / MSELoss with `weight`). When nothing counts (no rows, all ignored or
//         weight 0) the loss and every gradient are 0 (PyTorch returns NaN there).
// Optimizers (optim.cc) update param and their state buffers in place, following the formulas of
// the torch.optim docs (https://docs.pytorch.org/docs/stable/optim.html: SGD, Adam, AdamW, RMSprop);
// grad is never written. Clipping follows torch.nn.utils.clip_grad_norm_ / clip_grad_value_.
// Sizes and pointers are trusted: the binding (binding/train_binding.cc) has checked them, including
// that every target id is in [0, C) or equals ignore_index.
#pragma once
#include <stdint.h>

namespace gated {

enum class Reduction : int { Mean = 0, Sum = 1 };

struct CrossEntropyResult {
  double loss;
  double weight_sum;    // sum of the weights of the rows that count (their number when unweighted)
  int64_t num_correct;  // rows that count whose argmax (first maximum) is the target
};

// Softmax cross-entropy over C classes, numerically stable (max subtracted before exp).
//   logits [N, C], targets [N] class ids in [0, C) or ignore_index, weights [N] (>= 0) or null (1),
//   dlogits [N, C] out: w_i * scale * (softmax(logits_i) - onehot(t_i)), 0 for rows that do not
//   count (t_i == ignore_index or w_i == 0); scale = 1 / weight_sum (Mean) or 1 (Sum).
//   correct [N] out or null: 1 where a counted row's argmax equals its target, else 0.
CrossEntropyResult softmax_cross_entropy(const float* logits, const int32_t* targets, const float* weights,
                                         int64_t N, int64_t C, int32_t ignore_index, Reduction reduction,
                                         float* dlogits, uint8_t* correct);

// Binary cross-entropy on logits: l_i = w_i (max(x,0) - x y + log(1 + exp(-|x|))),
// dx_i = w_i scale (sigmoid(x_i) - y_i), scale = 1/n (Mean) or 1 (Sum).
//   x, y (targets in [0, 1]), dx [n]; w [n] or null.
double bce_with_logits(const float* x, const float* y, const float* w, int64_t n, Reduction reduction,
                       float* dx);

// Mean squared error: l_i = w_i (p_i - t_i)^2, dp_i = 2 w_i scale (p_i - t_i), scale as BCE.
//   p, t, dp [n]; w [n] or null.
double mse(const float* p, const float* t, const float* w, int64_t n, Reduction reduction, float* dp);

struct SgdOptions {
  double lr, momentum, dampening, weight_decay;
  bool nesterov;  // requires momentum > 0 and dampening == 0 (checked by the caller)
};
// param, grad [n]; momentum_buf [n] (or null when momentum == 0). step >= 1; step 1 initialises
// the buffer to the gradient (PyTorch: momentum_buffer = clone(grad) on the first step).
void sgd_step(float* param, const float* grad, float* momentum_buf, int64_t n, const SgdOptions& o,
              int64_t step);

struct AdamOptions {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled;  // AdamW: decoupled weight decay instead of L2 added to the gradient
};
// param, grad, exp_avg, exp_avg_sq [n]. step >= 1 is this step's count (bias correction 1 - beta^step).
void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
               const AdamOptions& o, int64_t step);

struct RmspropOptions {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered;
};
// param, grad, square_avg [n]; grad_avg [n] when centered (else null); momentum_buf [n] when
// momentum > 0 (else null). RMSprop has no bias correction, so it takes no step count.
void rmsprop_step(float* param, const float* grad, float* square_avg, float* grad_avg, float* momentum_buf,
                  int64_t n, const RmspropOptions& o);

// grads: count arrays, grads[k] of sizes[k] floats. Returns the global L2 norm (double sums, arrays
// in order); when max_norm / (norm + 1e-6) < 1 (or is NaN), every gradient is scaled by it.
double clip_grad_norm(float* const* grads, const int64_t* sizes, int64_t count, double max_norm);
// Clamps every element of every array into [-clip_value, clip_value] (NaN stays NaN).
void clip_grad_value(float* const* grads, const int64_t* sizes, int64_t count, double clip_value);

}  // namespace gated
