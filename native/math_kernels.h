// math_kernels.h: element-wise transcendental kernels over arrays (the vectorized exp, sigmoid and
// tanh of math.inc), one set per instruction set. Accuracy (tested against libm over [-30, 30]):
// sigmoid and tanh within 1e-6 absolute; exp within 1e-6 relative (absolute error is meaningless
// for float32 near e^30).
#pragma once
#include <stdint.h>

namespace gated {

struct MathKernels {
  // y[i] = f(x[i]) for i in [0, n). x and y may be the same array.
  void (*exp)(const float* x, float* y, int64_t n);
  void (*sigmoid)(const float* x, float* y, int64_t n);
  void (*tanh)(const float* x, float* y, int64_t n);
};

}  // namespace gated
