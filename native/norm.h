// norm.h: layer normalization over the last dimension (PyTorch's nn.LayerNorm over one dim), a
// forward/backward pair of free functions on raw row-major float arrays. Rows are whatever the
// caller flattens (a Vector's B rows, a time-major Sequence's T*B rows).
//
//   mean_r = (1/F) sum_f x[r,f]     var_r = (1/F) sum_f (x[r,f] - mean_r)^2   (biased, as PyTorch)
//   rstd_r = 1 / sqrt(var_r + eps)  y[r,f] = (x[r,f] - mean_r) * rstd_r * gamma[f] + beta[f]
//
// The row statistics are sums in double, in index order, so every row's result is the same for any
// batch and thread count (and matches lib/js/nn.ts's twin to float rounding).
#pragma once
#include <stdint.h>

namespace gated {

// y [N, F]; mean, rstd [N] (kept for backward); gamma, beta [F] or nullptr (no affine: 1 and 0).
void layer_norm_forward(const float* x, const float* gamma, const float* beta, int64_t N, int64_t F,
                        float eps, float* y, float* mean, float* rstd);

// From dy [N, F] and the forward's x, mean, rstd:
//   xhat = (x - mean) * rstd,  g = dy * gamma
//   dx [N, F] = rstd * (g - mean_f(g) - xhat * mean_f(g * xhat))      (written)
//   dgamma [F] += sum_r dy * xhat,  dbeta [F] += sum_r dy               (added, rows in order; skipped when
//   nullptr)
void layer_norm_backward(const float* x, const float* gamma, const float* mean, const float* rstd,
                         const float* dy, int64_t N, int64_t F, float* dx, float* dgamma, float* dbeta);

}  // namespace gated
