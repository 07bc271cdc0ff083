// gemm.h: single-precision matrix products for the gate matmuls.
//
// All matrices are row-major. op(A) is [M,K]: A[m*lda + k], or when trans_a, A stored [K,M] read as
// A[k*lda + m]. op(B) is [K,N]: B[k*ldb + n], or when trans_b, B stored [N,K] read as B[n*ldb + k].
// C is [M,N] with row stride ldc. accumulate: C += op(A)op(B); otherwise C = op(A)op(B).
//
// Determinism: every element of C is reduced over K in one fixed order that depends only on the
// shape (not on the tile it falls in or the number of threads), so results are bit-identical for
// every thread count and for any column split given to sgemm_packed or sgemm_nt_small. Two orders
// exist: the packed kernels' (KC blocks of k, used by sgemm in general and by sgemm_packed) and
// the unpacked small-M kernel's (sgemm_nt_small, used by sgemm when trans_b, !trans_a and
// M <= kGemmSmallM); which one a product gets depends only on (trans_a, trans_b, M).
#pragma once
#include <stdint.h>

#include <vector>

namespace gated {

// Threaded over the kernel pool (pool.h). Do not call from inside a parallel region: there it runs
// on the calling thread only (see parallel()).
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
           const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate);

// The same product on the calling thread only (for use inside a parallel region).
void sgemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A,
                  int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate);

// Rows up to which sgemm multiplies A by a transposed B in place (sgemm_nt_small) rather than packing
// op(B): below one packed micro-tile of rows (MR = 6), packing B costs about as much as the product.
constexpr int64_t kGemmSmallM = 6;

// C[M, N] (+)= A[M, K] * W^T with W stored row-major [N, K] (row n at W + n*ldw), unpacked, on the
// calling thread: dot products of each A row with each W row, every W row read once for all M rows.
// For few rows (a decode step against the weights): no packing, no scratch. Any M works.
void sgemm_nt_small(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* W, int64_t ldw,
                    float* C, int64_t ldc, bool accumulate);

// Plain triple loop with float accumulation in k order: the reference the fast path is tested against.
void sgemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A,
                     int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate);

// op(B) [K,N] packed once into column panels, for many products with different A (the recurrent
// weights inside the time loop: packed once per call, streamed from cache at every step).
struct PackedB {
  int64_t K = 0, N = 0;
  int64_t panel = 0;        // columns per panel (the active ISA's micro-kernel width)
  std::vector<float> data;  // layout private to gemm.cc
};
void pack_b(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb, PackedB* out);

// Columns [n0, n1) of C (+)= A[M,K] * B, on the calling thread. n0 must be a multiple of
// gemm_panel_width() (n1 may be anything up to B.N). Threads split the columns of one product among
// themselves with it.
void sgemm_packed(int64_t M, int64_t n0, int64_t n1, const float* A, int64_t lda, const PackedB& B,
                  float* C, int64_t ldc, bool accumulate);

// Column panel width of the active ISA's micro-kernel (split points for sgemm_packed).
int64_t gemm_panel_width();

}  // namespace gated
