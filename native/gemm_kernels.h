// gemm_kernels.h: the register-blocked SGEMM micro-kernels of one instruction set (gemm.inc), driven by
// gemm.cc (packing, cache blocking, threads). The table says the panel shapes the driver must pack.
#pragma once
#include <stdint.h>

namespace gated {

struct GemmKernels {
  int mr;  // rows per packed A panel (and per micro-kernel call at most)
  int nr;  // columns per packed B panel (gemm_panel_width())
  // One K block: C[M, N] = (add ? C : 0) + A[M, kc] * B[kc, N].
  //   A element (m, k) at a[(m / mr) * aps + (m % mr) * rsa + k * csa]: packed A panels are
  //   (rsa 1, csa mr, aps kc*mr); a plain row-major A is (rsa lda, csa 1, aps mr*lda).
  //   B is packed in panels of nr columns (zero-padded past N), element (k, n) at
  //   b[(n / nr) * psb + k * nr + n % nr].
  //   Every C element gets acc = 0, acc = fma(a_k, b_k, acc) for k in order, then C = C + acc (or
  //   C = acc), whichever tile or kernel variant holds it: the determinism contract of gemm.h.
  //   With add == 0, C is only written, never read.
  void (*block)(int64_t M, int64_t N, int64_t kc, const float* a, int64_t rsa, int64_t csa, int64_t aps,
                const float* b, int64_t psb, float* c, int64_t ldc, int add);
  // Few rows against an unpacked transposed B: C[M, N] = (add ? C : 0) + A[M, K] * W[N, K]^T, i.e.
  //   c[m*ldc + n] (+)= sum_k a[m*lda + k] * w[n*ldw + k]   (K >= 1; any M, fast for M <= ~6).
  //   Each element: acc = fma over k in full vectors, in order; s = horizontal sum of acc; then
  //   s += a_k w_k for the k tail, in order; C = C + s (or s). The order depends only on K, so any
  //   split of N (or M) gives the same bits. With add == 0, C is only written.
  void (*nt_small)(int64_t M, int64_t N, int64_t K, const float* a, int64_t lda, const float* w,
                   int64_t ldw, float* c, int64_t ldc, int add);
};

}  // namespace gated
