// isa_avx512.cc: the vectorized kernels compiled for AVX-512F (x86-64 only), 16 floats per vector.
//
// Only the functions inside the region below are compiled with AVX-512F enabled (target attributes,
// no global -mavx512f), so the rest of the addon runs on any x86-64 CPU; dispatch.cc calls
// fill_avx512() only after __builtin_cpu_supports says the CPU (and the OS) has AVX-512F, AVX2 and
// FMA. Only AVX-512F instructions are used (no VL/BW/DQ): the kernels need nothing else.
#if defined(__x86_64__) || defined(_M_X64)
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 warns "'__Y' may be used uninitialized" inside its own avx512fintrin.h (the _mm512_undefined_ps
// operand of unmasked max/min/cvt/roundscale/slli): a false positive about the header, not this code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dispatch.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")
#endif

namespace gated {
namespace avx512 {
#define GATED_SIMD_AVX512 1
#include "simd.h"
#include "math.inc"
#include "gemm.inc"
#include "cells.inc"
#include "train.inc"
}  // namespace avx512
}  // namespace gated

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

namespace gated {
void fill_avx512(KernelTable& t) {
  t.isa = "avx512";
  avx512::fill_math(t.math);
  avx512::fill_gemm(t.gemm);
  avx512::fill_cells(t.cell);
  avx512::fill_train(t.train);
}
}  // namespace gated
#endif
