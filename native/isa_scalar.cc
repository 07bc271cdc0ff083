// isa_scalar.cc: the same kernels compiled one float at a time, for any CPU. Also the reference the
// vectorized builds are tested against (test/simd.test.ts switches the table with set_isa).
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dispatch.h"

namespace gated {
namespace scalar {
#define GATED_SIMD_SCALAR 1
#include "simd.h"
#include "math.inc"
#include "gemm.inc"
#include "cells.inc"
#include "train.inc"
}  // namespace scalar

void fill_scalar(KernelTable& t) {
  t.isa = "scalar";
  scalar::fill_math(t.math);
  scalar::fill_gemm(t.gemm);
  scalar::fill_cells(t.cell);
  scalar::fill_train(t.train);
}
}  // namespace gated
