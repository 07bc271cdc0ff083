// gemm_kernels.h: the register-blocked SGEMM micro-kernel and the B packing of one instruction set
// (gemm.inc), driven by gemm.cc (packing, cache blocking, threads). The table says the panel shapes
// the driver must pack.
#pragma once
#include <stdint.h>

namespace gated {

struct GemmKernels {
  int mr;       // rows per packed A panel (and per micro-kernel call at most)
  int nr;       // columns per packed B panel (gemm_panel_width())
  int np;       // panels a one-row tile takes; PackedB interleaves runs of np for products of at most
  int np_rows;  // this many rows (those whose tiles take np panels too)
  // One K block: C[M, N] = (add ? C : 0) + A[M, kc] * B[kc, N].
  //   A element (m, k) at a[(m / mr) * aps + (m % mr) * rsa + k * csa]: packed A panels are
  //   (rsa 1, csa mr, aps kc*mr); a plain row-major A is (rsa lda, csa 1, aps mr*lda).
  //   B is packed in panels of nr columns (zero-padded past N), element (k, n) at
  //   b[(n / nr) * psb + k * rsb + n % nr]: rsb = nr for panels stored one after the other
  //   (psb = kc*nr), rsb = g*nr for g panels interleaved row by row (psb = nr; PackedB's groups).
  //   Every C element gets acc = 0, acc = fma(a_k, b_k, acc) for k in order, then C = C + acc (or
  //   C = acc), whichever tile, row count or column position holds it: the determinism contract of
  //   gemm.h. With add == 0, C is only written, never read.
  void (*block)(int64_t M, int64_t N, int64_t kc, const float* a, int64_t rsa, int64_t csa, int64_t aps,
                const float* b, int64_t psb, int64_t rsb, float* c, int64_t ldc, int add);
  // Packs op(B) = W^T of a row-major W [N, K] (element (k, n) at w[n*ldw + k]), k in [0, kc) and
  // n in [0, nc), into panels of nr columns zero-padded past nc: (k, j) of panel p at
  // bp[p*ps + k*rs + j] (rs >= nr). kW x kW blocks are transposed in registers (vtranspose).
  void (*pack_bt)(int64_t kc, int64_t nc, const float* w, int64_t ldw, float* bp, int64_t ps, int64_t rs);
};

}  // namespace gated
