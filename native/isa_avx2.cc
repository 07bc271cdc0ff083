// isa_avx2.cc: the vectorized kernels compiled for AVX2+FMA (x86-64 only).
//
// Only the functions inside the region below are compiled with AVX2 enabled (target attributes, no
// global -mavx2), so the rest of the addon runs on any x86-64 CPU; dispatch.cc calls fill_avx2()
// only after __builtin_cpu_supports says the CPU has both features.
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dispatch.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

namespace gated {
namespace avx2 {
#define GATED_SIMD_AVX2 1
#include "simd.h"
#include "math.inc"
#include "gemm.inc"
#include "cells.inc"
#include "train.inc"
}  // namespace avx2
}  // namespace gated

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

namespace gated {
void fill_avx2(KernelTable& t) {
  t.isa = "avx2";
  avx2::fill_math(t.math);
  avx2::fill_gemm(t.gemm);
  avx2::fill_cells(t.cell);
  avx2::fill_train(t.train);
}
}  // namespace gated
#endif
