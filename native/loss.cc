// loss.cc: softmax cross-entropy, BCE with logits and MSE (see train.h for the math and shapes).
// Single-threaded: each is one pass over the data, memory-bound, and the fixed row order makes the
// double sums independent of the thread count. The softmax's exp goes through the vectorized
// kernels().math.exp, written straight into the gradient row (the row is its own workspace).
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dispatch.h"
#include "train.h"

namespace gated {

CrossEntropyResult softmax_cross_entropy(const float* logits, const int32_t* targets, const float* weights,
                                         int64_t N, int64_t C, int32_t ignore_index, Reduction reduction,
                                         float* dlogits, uint8_t* correct) {
  CrossEntropyResult res{0.0, 0.0, 0};
  // Pre-pass: the weight sum, so that the main pass writes final gradients in one go.
  for (int64_t i = 0; i < N; i++) {
    if (targets[i] == ignore_index) continue;
    res.weight_sum += weights ? (double)weights[i] : 1.0;
  }
  const bool none = !(res.weight_sum > 0.0);
  const double scale = reduction == Reduction::Mean ? (none ? 0.0 : 1.0 / res.weight_sum) : 1.0;
  void (*exp_fn)(const float*, float*, int64_t) = kernels().math.exp;
  double total = 0.0;
  for (int64_t i = 0; i < N; i++) {
    const float* x = logits + i * C;
    float* d = dlogits + i * C;
    const int32_t t = targets[i];
    const double w = weights ? (double)weights[i] : 1.0;
    if (correct) correct[i] = 0;
    if (t == ignore_index || w == 0.0) {
      memset(d, 0, (size_t)C * sizeof(float));
      continue;
    }
    // Max and argmax (first maximum, as torch.argmax); C >= 1 here since t is in [0, C).
    float mx = x[0];
    int64_t am = 0;
    for (int64_t j = 1; j < C; j++) {
      if (x[j] > mx) {
        mx = x[j];
        am = j;
      }
    }
    for (int64_t j = 0; j < C; j++) d[j] = x[j] - mx;
    exp_fn(d, d, C);
    double s = 0.0;
    for (int64_t j = 0; j < C; j++) s += (double)d[j];
    // -log softmax_t = log(sum exp(x - max)) - (x_t - max).
    total += w * (log(s) - ((double)x[t] - (double)mx));
    const double g = w * scale;
    const double gs = g / s;
    // The target's entry in one double expression (p_t - 1 cancels; no float rounding in between).
    const double e_t = d[t];
    for (int64_t j = 0; j < C; j++) d[j] = (float)((double)d[j] * gs);
    d[t] = (float)(e_t * gs - g);
    if (am == t) {
      res.num_correct++;
      if (correct) correct[i] = 1;
    }
  }
  res.loss = total * scale;
  return res;
}

double bce_with_logits(const float* x, const float* y, const float* w, int64_t n, Reduction reduction,
                       float* dx) {
  const double scale = reduction == Reduction::Mean ? (n > 0 ? 1.0 / (double)n : 0.0) : 1.0;
  double total = 0.0;
  for (int64_t i = 0; i < n; i++) {
    const double xi = x[i], yi = y[i], wi = w ? (double)w[i] : 1.0;
    // max(x, 0) - x y + log(1 + exp(-|x|)): no overflow for any x (PyTorch's stable form).
    const double e = exp(-fabs(xi));
    total += wi * ((xi > 0 ? xi : 0.0) - xi * yi + log1p(e));
    // sigmoid(x) from the same e: 1/(1+e) for x >= 0, e/(1+e) for x < 0.
    const double sig = xi >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
    dx[i] = (float)(wi * scale * (sig - yi));
  }
  return total * scale;
}

double mse(const float* p, const float* t, const float* w, int64_t n, Reduction reduction, float* dp) {
  const double scale = reduction == Reduction::Mean ? (n > 0 ? 1.0 / (double)n : 0.0) : 1.0;
  double total = 0.0;
  for (int64_t i = 0; i < n; i++) {
    const double diff = (double)p[i] - (double)t[i], wi = w ? (double)w[i] : 1.0;
    total += wi * diff * diff;
    dp[i] = (float)(2.0 * wi * scale * diff);
  }
  return total * scale;
}

}  // namespace gated
