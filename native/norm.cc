// norm.cc: layer normalization (norm.h). Plain loops: the op is memory-bound and small next to the
// recurrent cells; the compiler vectorizes the inner ones.
#include "norm.h"

#include <math.h>

namespace gated {

void layer_norm_forward(const float* x, const float* gamma, const float* beta, int64_t N, int64_t F,
                        float eps, float* y, float* mean, float* rstd) {
  for (int64_t r = 0; r < N; r++) {
    const float* xr = x + r * F;
    float* yr = y + r * F;
    double sum = 0;
    for (int64_t f = 0; f < F; f++) sum += xr[f];
    const double m = F > 0 ? sum / (double)F : 0.0;
    double sq = 0;
    for (int64_t f = 0; f < F; f++) sq += ((double)xr[f] - m) * ((double)xr[f] - m);
    const double var = F > 0 ? sq / (double)F : 0.0;
    const float mf = (float)m;
    const float rs = (float)(1.0 / sqrt(var + (double)eps));
    mean[r] = mf;
    rstd[r] = rs;
    for (int64_t f = 0; f < F; f++) {
      const float xhat = (xr[f] - mf) * rs;
      yr[f] = gamma ? xhat * gamma[f] + (beta ? beta[f] : 0.0f) : xhat + (beta ? beta[f] : 0.0f);
    }
  }
}

void layer_norm_backward(const float* x, const float* gamma, const float* mean, const float* rstd,
                         const float* dy, int64_t N, int64_t F, float* dx, float* dgamma, float* dbeta) {
  for (int64_t r = 0; r < N; r++) {
    const float* xr = x + r * F;
    const float* dyr = dy + r * F;
    float* dxr = dx + r * F;
    const float m = mean[r], rs = rstd[r];
    double sg = 0, sgx = 0;
    for (int64_t f = 0; f < F; f++) {
      const float xhat = (xr[f] - m) * rs;
      const float g = gamma ? dyr[f] * gamma[f] : dyr[f];
      sg += g;
      sgx += (double)g * xhat;
      if (dgamma) dgamma[f] += dyr[f] * xhat;
      if (dbeta) dbeta[f] += dyr[f];
    }
    const float mg = F > 0 ? (float)(sg / (double)F) : 0.0f;
    const float mgx = F > 0 ? (float)(sgx / (double)F) : 0.0f;
    for (int64_t f = 0; f < F; f++) {
      const float xhat = (xr[f] - m) * rs;
      const float g = gamma ? dyr[f] * gamma[f] : dyr[f];
      dxr[f] = rs * (g - mg - xhat * mgx);
    }
  }
}

}  // namespace gated
