// optim.cc: SGD, Adam/AdamW, RMSprop steps and gradient clipping (see train.h). The per-call
// scalars (bias corrections, clip coefficient) are computed here in double; the element-wise updates
// run through the vectorized kernels().train (train.inc).
//
// Formulas: the "Algorithm" boxes of the torch.optim docs
//   SGD     https://docs.pytorch.org/docs/stable/generated/torch.optim.SGD.html
//   Adam    https://docs.pytorch.org/docs/stable/generated/torch.optim.Adam.html
//   AdamW   https://docs.pytorch.org/docs/stable/generated/torch.optim.AdamW.html
//   RMSprop https://docs.pytorch.org/docs/stable/generated/torch.optim.RMSprop.html
//   clip_grad_norm_ https://docs.pytorch.org/docs/stable/generated/torch.nn.utils.clip_grad_norm_.html
// with Adam's update in the form of PyTorch's single-tensor code: denom = sqrt(v) / sqrt(bc2) + eps,
// param -= (lr / bc1) * m / denom.
#include <math.h>
#include <stdint.h>

#include "dispatch.h"
#include "train.h"

namespace gated {

void sgd_step(float* param, const float* grad, float* momentum_buf, int64_t n, const SgdOptions& o,
              int64_t step) {
  kernels().train.sgd(n, param, grad, momentum_buf, (float)o.lr, (float)o.momentum, (float)o.dampening,
                      (float)o.weight_decay, o.nesterov ? 1 : 0, step <= 1 ? 1 : 0);
}

void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
               const AdamOptions& o, int64_t step) {
  const double bc1 = 1.0 - pow(o.beta1, (double)step);
  const double bc2 = 1.0 - pow(o.beta2, (double)step);
  kernels().train.adam(n, param, grad, exp_avg, exp_avg_sq, (float)o.lr, (float)o.beta1, (float)o.beta2,
                       (float)o.eps, (float)o.weight_decay, o.decoupled ? 1 : 0, (float)(o.lr / bc1),
                       (float)sqrt(bc2));
}

void rmsprop_step(float* param, const float* grad, float* square_avg, float* grad_avg, float* momentum_buf,
                  int64_t n, const RmspropOptions& o) {
  kernels().train.rmsprop(n, param, grad, square_avg, grad_avg, momentum_buf, (float)o.lr, (float)o.alpha,
                          (float)o.eps, (float)o.weight_decay, (float)o.momentum, o.centered ? 1 : 0);
}

double clip_grad_norm(float* const* grads, const int64_t* sizes, int64_t count, double max_norm) {
  // One double sum over all arrays in order (fixed order: the same norm for any thread count).
  double sq = 0.0;
  for (int64_t k = 0; k < count; k++) {
    const float* g = grads[k];
    for (int64_t i = 0; i < sizes[k]; i++) sq += (double)g[i] * (double)g[i];
  }
  const double norm = sqrt(sq);
  const double coef = max_norm / (norm + 1e-6);
  // PyTorch multiplies by clamp(coef, max=1): a no-op unless coef < 1, and NaN when the norm is NaN.
  if (!(coef >= 1.0)) {
    for (int64_t k = 0; k < count; k++) kernels().train.scale(sizes[k], grads[k], (float)coef);
  }
  return norm;
}

void clip_grad_value(float* const* grads, const int64_t* sizes, int64_t count, double clip_value) {
  const float c = (float)clip_value;
  for (int64_t k = 0; k < count; k++) kernels().train.clamp(sizes[k], grads[k], -c, c);
}

}  // namespace gated
