// train_kernels.h: the element-wise halves of the optimizers and gradient clipping (train.inc), one
// set per instruction set, reached through gated::kernels().train. The drivers in optim.cc compute
// the per-call scalars (bias corrections, clip coefficient) and call these on whole arrays.
//
// Every kernel walks i in [0, n) in vectors of kW with a zero-padded last vector; nothing outside
// [0, n) is read or written. Arrays of one call must not overlap (except where noted).
// Hyperparameters arrive already converted to float. Flags are ints (0 / 1).
#pragma once
#include <stdint.h>

namespace gated {

struct TrainKernels {
  // SGD (torch.optim.SGD): g = grad + wd * param (when wd != 0); with momentum != 0:
  // buf = first ? g : momentum * buf + (1 - dampening) * g, g = nesterov ? g + momentum * buf : buf;
  // param -= lr * g. buf [n] is unused (may be null) when momentum == 0.
  void (*sgd)(int64_t n, float* param, const float* grad, float* buf, float lr, float momentum,
              float dampening, float weight_decay, int nesterov, int first);
  // Adam / AdamW (torch.optim.Adam, AdamW): L2 (g += wd * param) or, when decoupled, param *= 1 - lr*wd;
  // m += (1 - beta1) (g - m); v = beta2 v + (1 - beta2) g^2;
  // param -= step_size * m / (sqrt(v) / bc2_sqrt + eps), step_size = lr / (1 - beta1^t),
  // bc2_sqrt = sqrt(1 - beta2^t) (computed by the caller in double).              [n] each
  void (*adam)(int64_t n, float* param, const float* grad, float* m, float* v, float lr, float beta1,
               float beta2, float eps, float weight_decay, int decoupled, float step_size, float bc2_sqrt);
  // RMSprop (torch.optim.RMSprop): g += wd * param; sq = alpha sq + (1 - alpha) g^2;
  // centered: ga += (1 - alpha) (g - ga), avg = sqrt(max(sq - ga^2, 0)) + eps; else sqrt(sq) + eps;
  // momentum > 0: buf = momentum buf + g / avg, param -= lr buf; else param -= lr g / avg.
  // grad_avg [n] or null unless centered; buf [n] or null unless momentum > 0.
  void (*rmsprop)(int64_t n, float* param, const float* grad, float* square_avg, float* grad_avg, float* buf,
                  float lr, float alpha, float eps, float weight_decay, float momentum, int centered);
  // x[i] *= s (in place).
  void (*scale)(int64_t n, float* x, float s);
  // x[i] = min(hi, max(lo, x[i])) (in place; NaN stays NaN).
  void (*clamp)(int64_t n, float* x, float lo, float hi);
};

}  // namespace gated
