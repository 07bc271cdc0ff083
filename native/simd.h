// simd.h: one small vector vocabulary over AVX-512F, AVX2+FMA, NEON and plain scalars.
//
// Kernels that vectorize are written once against this vocabulary in an `.inc` file and compiled once
// per instruction set by `isa_<name>.cc`, which defines exactly one of GATED_SIMD_AVX512 /
// GATED_SIMD_AVX2 / GATED_SIMD_NEON / GATED_SIMD_SCALAR before including this header inside its own
// namespace region. Nothing here is used outside those files; the rest of native/ reaches kernels
// through dispatch.h.
//
// Rules (see ggml's simd-mappings.h for the idea): unaligned loads and stores only; a vector holds
// `kW` floats; tails are finished by a scalar loop or a zero-padded vector; no std:: templates inside
// an ISA region (an inline std function compiled with AVX2 enabled could be chosen by the linker for
// baseline code too).
//
// Every operation is lane-wise IEEE single precision with the same rounding on every vector ISA
// (vfmadd is one fused rounding, vround rounds to nearest even), so a kernel that only uses lane-wise
// operations gives the same bits for a lane on AVX2 and AVX-512; nothing here reduces across lanes.
// vtranspose is a pure data movement (exact).
#pragma once

#if defined(GATED_SIMD_AVX512)
#include <immintrin.h>
#define GATED_ISA_ATTR __attribute__((target("avx512f,avx2,fma"), always_inline)) inline
typedef __m512 vf;
typedef __m512i vi;
constexpr int kW = 16;
GATED_ISA_ATTR vf vzero() { return _mm512_setzero_ps(); }
GATED_ISA_ATTR vf vset1(float a) { return _mm512_set1_ps(a); }
GATED_ISA_ATTR vf vload(const float* p) { return _mm512_loadu_ps(p); }
GATED_ISA_ATTR void vstore(float* p, vf a) { _mm512_storeu_ps(p, a); }
GATED_ISA_ATTR vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
GATED_ISA_ATTR vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
GATED_ISA_ATTR vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
GATED_ISA_ATTR vf vdiv(vf a, vf b) { return _mm512_div_ps(a, b); }
GATED_ISA_ATTR vf vsqrt(vf a) { return _mm512_sqrt_ps(a); }
// max/min keep the second operand when either is NaN (as maxps/minps on AVX2): math.inc relies on it.
GATED_ISA_ATTR vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
GATED_ISA_ATTR vf vmin(vf a, vf b) { return _mm512_min_ps(a, b); }
GATED_ISA_ATTR vf vfmadd(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
GATED_ISA_ATTR vf vfnmadd(vf a, vf b, vf c) { return _mm512_fnmadd_ps(a, b, c); }
GATED_ISA_ATTR vf vselect_gt(vf a, vf b, vf x, vf y) {
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_GT_OQ), y, x);
}
GATED_ISA_ATTR vi vcvt_i(vf a) { return _mm512_cvtps_epi32(a); }
GATED_ISA_ATTR vf vcvt_f(vi a) { return _mm512_cvtepi32_ps(a); }
GATED_ISA_ATTR vi vadd_i(vi a, vi b) { return _mm512_add_epi32(a, b); }
GATED_ISA_ATTR vi vset1_i(int a) { return _mm512_set1_epi32(a); }
GATED_ISA_ATTR vi vshl_i(vi a, int n) { return _mm512_slli_epi32(a, (unsigned)n); }
GATED_ISA_ATTR vf vcast_f(vi a) { return _mm512_castsi512_ps(a); }
GATED_ISA_ATTR vf vround(vf a) {
  return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
// r[i][j] <- r[j][i] for a kW x kW block held as kW row vectors.
GATED_ISA_ATTR void vtranspose(vf* r) {
  vf t[16], u[16];
  for (int i = 0; i < 16; i += 2) {  // 2x2 blocks of floats
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {  // 4x4 blocks (pairs of floats as doubles)
    for (int j = 0; j < 2; j++) {
      __m512d a = _mm512_castps_pd(t[i + j]), b = _mm512_castps_pd(t[i + 2 + j]);
      u[i + 2 * j] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));      // column 2j of the 4x4 block
      u[i + 2 * j + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));  // column 2j + 1
    }
  }
  for (int i = 0; i < 16; i += 8) {  // 128-bit lanes: rows i..i+3 with rows i+4..i+7
    for (int j = 0; j < 4; j++) {
      t[i + j] = _mm512_shuffle_f32x4(u[i + j], u[i + 4 + j], 0x88);
      t[i + 4 + j] = _mm512_shuffle_f32x4(u[i + j], u[i + 4 + j], 0xdd);
    }
  }
  for (int j = 0; j < 8; j++) {  // rows 0..7 with rows 8..15
    r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
    r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
  }
}

#elif defined(GATED_SIMD_AVX2)
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
GATED_ISA_ATTR vf vsqrt(vf a) { return _mm256_sqrt_ps(a); }
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
// Float -> int32 lanes (round to nearest), int32 lanes -> float, shift left, reinterpret: for exp().
GATED_ISA_ATTR vi vcvt_i(vf a) { return _mm256_cvtps_epi32(a); }
GATED_ISA_ATTR vf vcvt_f(vi a) { return _mm256_cvtepi32_ps(a); }
GATED_ISA_ATTR vi vadd_i(vi a, vi b) { return _mm256_add_epi32(a, b); }
GATED_ISA_ATTR vi vset1_i(int a) { return _mm256_set1_epi32(a); }
GATED_ISA_ATTR vi vshl_i(vi a, int n) { return _mm256_slli_epi32(a, n); }
GATED_ISA_ATTR vf vcast_f(vi a) { return _mm256_castsi256_ps(a); }
GATED_ISA_ATTR vf vround(vf a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
GATED_ISA_ATTR void vtranspose(vf* r) {
  vf t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
  }
  for (int j = 0; j < 4; j++) {
    r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
    r[4 + j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
  }
}

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
GATED_ISA_ATTR vf vsqrt(vf a) { return vsqrtq_f32(a); }
GATED_ISA_ATTR vf vmax(vf a, vf b) { return vmaxq_f32(a, b); }
GATED_ISA_ATTR vf vmin(vf a, vf b) { return vminq_f32(a, b); }
GATED_ISA_ATTR vf vfmadd(vf a, vf b, vf c) { return vfmaq_f32(c, a, b); }
GATED_ISA_ATTR vf vfnmadd(vf a, vf b, vf c) { return vfmsq_f32(c, a, b); }
GATED_ISA_ATTR vf vselect_gt(vf a, vf b, vf x, vf y) { return vbslq_f32(vcgtq_f32(a, b), x, y); }
GATED_ISA_ATTR vi vcvt_i(vf a) { return vcvtnq_s32_f32(a); }
GATED_ISA_ATTR vf vcvt_f(vi a) { return vcvtq_f32_s32(a); }
GATED_ISA_ATTR vi vadd_i(vi a, vi b) { return vaddq_s32(a, b); }
GATED_ISA_ATTR vi vset1_i(int a) { return vdupq_n_s32(a); }
GATED_ISA_ATTR vi vshl_i(vi a, int n) { return vshlq_s32(a, vdupq_n_s32(n)); }
GATED_ISA_ATTR vf vcast_f(vi a) { return vreinterpretq_f32_s32(a); }
GATED_ISA_ATTR vf vround(vf a) { return vrndnq_f32(a); }
GATED_ISA_ATTR void vtranspose(vf* r) {
  float32x4x2_t a = vtrnq_f32(r[0], r[1]), b = vtrnq_f32(r[2], r[3]);
  r[0] = vcombine_f32(vget_low_f32(a.val[0]), vget_low_f32(b.val[0]));
  r[1] = vcombine_f32(vget_low_f32(a.val[1]), vget_low_f32(b.val[1]));
  r[2] = vcombine_f32(vget_high_f32(a.val[0]), vget_high_f32(b.val[0]));
  r[3] = vcombine_f32(vget_high_f32(a.val[1]), vget_high_f32(b.val[1]));
}

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
GATED_ISA_ATTR vf vsqrt(vf a) { return __builtin_sqrtf(a); }
GATED_ISA_ATTR vf vmax(vf a, vf b) { return a > b ? a : b; }
GATED_ISA_ATTR vf vmin(vf a, vf b) { return a < b ? a : b; }
GATED_ISA_ATTR vf vfmadd(vf a, vf b, vf c) { return a * b + c; }
GATED_ISA_ATTR vf vfnmadd(vf a, vf b, vf c) { return c - a * b; }
GATED_ISA_ATTR vf vselect_gt(vf a, vf b, vf x, vf y) { return a > b ? x : y; }
GATED_ISA_ATTR vi vcvt_i(vf a) { return (vi)__builtin_lrintf(a); }
GATED_ISA_ATTR vf vcvt_f(vi a) { return (vf)a; }
GATED_ISA_ATTR vi vadd_i(vi a, vi b) { return a + b; }
GATED_ISA_ATTR vi vset1_i(int a) { return a; }
GATED_ISA_ATTR vi vshl_i(vi a, int n) { return (vi)((uint32_t)a << n); }
GATED_ISA_ATTR vf vcast_f(vi a) {
  vf f;
  memcpy(&f, &a, sizeof f);
  return f;
}
GATED_ISA_ATTR vf vround(vf a) { return __builtin_rintf(a); }
GATED_ISA_ATTR void vtranspose(vf*) {}
#endif
