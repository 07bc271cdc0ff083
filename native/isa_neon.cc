// isa_neon.cc: the vectorized kernels compiled for NEON (arm64, where NEON is always present).
#if defined(__aarch64__)
#include <arm_neon.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dispatch.h"

namespace gated {
namespace neon {
#define GATED_SIMD_NEON 1
#include "simd.h"
#include "math.inc"
#include "gemm.inc"
#include "cells.inc"
#include "train.inc"
}  // namespace neon

void fill_neon(KernelTable& t) {
  t.isa = "neon";
  neon::fill_math(t.math);
  neon::fill_gemm(t.gemm);
  neon::fill_cells(t.cell);
  neon::fill_train(t.train);
}
}  // namespace gated
#endif
