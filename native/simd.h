// simd.h: one small vector vocabulary over AVX2+FMA, NEON and plain scalars.
//
// Kernels that vectorize are written once against this vocabulary in an `.inc` file and compiled once
// per instruction set by `isa_<name>.cc`, which defines exactly one of GATED_SIMD_AVX2 /
// GATED_SIMD_NEON / GATED_SIMD_SCALAR before including this header inside its own namespace region.
// Nothing here is used outside those files; the rest of native/ reaches kernels through dispatch.h.
//
// Rules (see ggml's simd-mappings.h for the idea): unaligned loads and stores only; a vector holds
// `kW` floats; tails are finished by a scalar loop (the `s*` functions below compute the same math
// one float at a time); no std:: templates inside an ISA region (an inline std function compiled with
// AVX2 enabled could be chosen by the linker for baseline code too).
#pragma once

#if defined(GATED_SIMD_AVX2)
#include <immintrin.h>
#define GATED_ISA_ATTR __attribute__((target("avx2,fma"), always_inline)) inline
typedef __m256 vf;
typedef __m256i vi;
constexpr int kW = 8;
GATED_ISA_ATTR vf vzero() { return _mm256_setzero_ps(); }
GATED_ISA_ATTR vf vset1(float a) { return _mm256_set1_ps(a); }
GATED_ISA_ATTR vf vload(const float* p) { return _mm256_loadu_ps(p); }
GATED_ISA_ATTR void vstore(float* p, vf a) { _mm256_storeu_ps(p, a); }
GATED_ISA_ATTR vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
GATED_ISA_ATTR vf vsub(vf a, vf b) { return _mm256_sub_ps(a, b); }
GATED_ISA_ATTR vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
GATED_ISA_ATTR vf vdiv(vf a, vf b) { return _mm256_div_ps(a, b); }
GATED_ISA_ATTR vf vmax(vf a, vf b) { return _mm256_max_ps(a, b); }
GATED_ISA_ATTR vf vmin(vf a, vf b) { return _mm256_min_ps(a, b); }
// a * b + c, fused (one rounding).
GATED_ISA_ATTR vf vfmadd(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
// c - a * b, fused.
GATED_ISA_ATTR vf vfnmadd(vf a, vf b, vf c) { return _mm256_fnmadd_ps(a, b, c); }
// Lane-wise select: mask lanes where a > b take `x`, others `y`.
GATED_ISA_ATTR vf vselect_gt(vf a, vf b, vf x, vf y) {
  return _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, b, _CMP_GT_OQ));
}
GATED_ISA_ATTR float vhsum(vf a) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
// Float -> int32 lanes (round to nearest), int32 lanes -> float, shift left, reinterpret: for exp().
GATED_ISA_ATTR vi vcvt_i(vf a) { return _mm256_cvtps_epi32(a); }
GATED_ISA_ATTR vf vcvt_f(vi a) { return _mm256_cvtepi32_ps(a); }
GATED_ISA_ATTR vi vadd_i(vi a, vi b) { return _mm256_add_epi32(a, b); }
GATED_ISA_ATTR vi vset1_i(int a) { return _mm256_set1_epi32(a); }
GATED_ISA_ATTR vi vshl_i(vi a, int n) { return _mm256_slli_epi32(a, n); }
GATED_ISA_ATTR vf vcast_f(vi a) { return _mm256_castsi256_ps(a); }
GATED_ISA_ATTR vf vround(vf a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }

#elif defined(GATED_SIMD_NEON)
#include <arm_neon.h>
#define GATED_ISA_ATTR __attribute__((always_inline)) inline
typedef float32x4_t vf;
typedef int32x4_t vi;
constexpr int kW = 4;
GATED_ISA_ATTR vf vzero() { return vdupq_n_f32(0.0f); }
GATED_ISA_ATTR vf vset1(float a) { return vdupq_n_f32(a); }
GATED_ISA_ATTR vf vload(const float* p) { return vld1q_f32(p); }
GATED_ISA_ATTR void vstore(float* p, vf a) { vst1q_f32(p, a); }
GATED_ISA_ATTR vf vadd(vf a, vf b) { return vaddq_f32(a, b); }
GATED_ISA_ATTR vf vsub(vf a, vf b) { return vsubq_f32(a, b); }
GATED_ISA_ATTR vf vmul(vf a, vf b) { return vmulq_f32(a, b); }
GATED_ISA_ATTR vf vdiv(vf a, vf b) { return vdivq_f32(a, b); }
GATED_ISA_ATTR vf vmax(vf a, vf b) { return vmaxq_f32(a, b); }
GATED_ISA_ATTR vf vmin(vf a, vf b) { return vminq_f32(a, b); }
GATED_ISA_ATTR vf vfmadd(vf a, vf b, vf c) { return vfmaq_f32(c, a, b); }
GATED_ISA_ATTR vf vfnmadd(vf a, vf b, vf c) { return vfmsq_f32(c, a, b); }
GATED_ISA_ATTR vf vselect_gt(vf a, vf b, vf x, vf y) { return vbslq_f32(vcgtq_f32(a, b), x, y); }
GATED_ISA_ATTR float vhsum(vf a) { return vaddvq_f32(a); }
GATED_ISA_ATTR vi vcvt_i(vf a) { return vcvtnq_s32_f32(a); }
GATED_ISA_ATTR vf vcvt_f(vi a) { return vcvtq_f32_s32(a); }
GATED_ISA_ATTR vi vadd_i(vi a, vi b) { return vaddq_s32(a, b); }
GATED_ISA_ATTR vi vset1_i(int a) { return vdupq_n_s32(a); }
GATED_ISA_ATTR vi vshl_i(vi a, int n) { return vshlq_s32(a, vdupq_n_s32(n)); }
GATED_ISA_ATTR vf vcast_f(vi a) { return vreinterpretq_f32_s32(a); }
GATED_ISA_ATTR vf vround(vf a) { return vrndnq_f32(a); }

#else  // GATED_SIMD_SCALAR: one float per "vector"; the same kernels, no intrinsics.
#include <stdint.h>
#include <string.h>
#define GATED_ISA_ATTR __attribute__((always_inline)) inline
typedef float vf;
typedef int32_t vi;
constexpr int kW = 1;
GATED_ISA_ATTR vf vzero() { return 0.0f; }
GATED_ISA_ATTR vf vset1(float a) { return a; }
GATED_ISA_ATTR vf vload(const float* p) { return *p; }
GATED_ISA_ATTR void vstore(float* p, vf a) { *p = a; }
GATED_ISA_ATTR vf vadd(vf a, vf b) { return a + b; }
GATED_ISA_ATTR vf vsub(vf a, vf b) { return a - b; }
GATED_ISA_ATTR vf vmul(vf a, vf b) { return a * b; }
GATED_ISA_ATTR vf vdiv(vf a, vf b) { return a / b; }
GATED_ISA_ATTR vf vmax(vf a, vf b) { return a > b ? a : b; }
GATED_ISA_ATTR vf vmin(vf a, vf b) { return a < b ? a : b; }
GATED_ISA_ATTR vf vfmadd(vf a, vf b, vf c) { return a * b + c; }
GATED_ISA_ATTR vf vfnmadd(vf a, vf b, vf c) { return c - a * b; }
GATED_ISA_ATTR vf vselect_gt(vf a, vf b, vf x, vf y) { return a > b ? x : y; }
GATED_ISA_ATTR float vhsum(vf a) { return a; }
GATED_ISA_ATTR vi vcvt_i(vf a) { return (vi)__builtin_lrintf(a); }
GATED_ISA_ATTR vf vcvt_f(vi a) { return (vf)a; }
GATED_ISA_ATTR vi vadd_i(vi a, vi b) { return a + b; }
GATED_ISA_ATTR vi vset1_i(int a) { return a; }
GATED_ISA_ATTR vi vshl_i(vi a, int n) { return (vi)((uint32_t)a << n); }
GATED_ISA_ATTR vf vcast_f(vi a) { vf f; memcpy(&f, &a, sizeof f); return f; }
GATED_ISA_ATTR vf vround(vf a) { return __builtin_rintf(a); }
#endif
