// gemm.h: single-precision matrix products for the gate matmuls.
//
// All matrices are row-major. op(A) is [M,K]: A[m*lda + k], or when trans_a, A stored [K,M] read as
// A[k*lda + m]. op(B) is [K,N]: B[k*ldb + n], or when trans_b, B stored [N,K] read as B[n*ldb + k].
// C is [M,N] with row stride ldc. accumulate: C += op(A)op(B); otherwise C = op(A)op(B).
//
// Determinism and batch invariance: every product, whatever its path (sgemm, sgemm_serial,
// sgemm_packed, any transpose), runs through the one packed micro-kernel of the active ISA, and every
// element of C is reduced over K in the same fixed order: in blocks of kKC = 256 k (in k order), each
// block's acc = 0 then one fused multiply-add per k in order, then C = C + acc (C = acc for the first
// block when not accumulating). That order depends on K alone: not on M, on a row's position, on the
// tile it falls in, on the column split given to sgemm_packed, or on the thread count. So a row of
// C is bit-identical whether it is multiplied alone or with 63 others, and AVX2 and AVX-512 (both
// fusing) give the same bits; the scalar build rounds each product separately and differs in the
// last bits.
#pragma once
#include <stdint.h>

#include <cstddef>
#include <new>
#include <vector>

namespace gated {

// Storage that starts on a cache line (64 bytes): a packed panel's vector loads, and a workspace's
// rows, then never straddle two lines (a 64-byte load at a 16-byte offset touches two).
template <class T>
struct CacheLineAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlign{64};
  CacheLineAllocator() = default;
  template <class U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlign)); }
  void deallocate(T* p, size_t) { ::operator delete(p, kAlign); }
  template <class U>
  bool operator==(const CacheLineAllocator<U>&) const {
    return true;
  }
  template <class U>
  bool operator!=(const CacheLineAllocator<U>&) const {
    return false;
  }
};
using AlignedFloats = std::vector<float, CacheLineAllocator<float>>;

// Threaded over the kernel pool (pool.h). Do not call from inside a parallel region: there it runs
// on the calling thread only (see parallel()).
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
           const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate);

// The same product on the calling thread only (for use inside a parallel region).
void sgemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate);

// Rows up to which a product is treated as memory-bound (a decode step, a GEMV): op(B) is packed a few
// panels at a time and used at once, while they are in L1/L2, instead of in 1 MB blocks. A speed
// choice only: the arithmetic is the same.
constexpr int64_t kGemmSmallM = 6;

// Plain triple loop with float accumulation in k order: the reference the fast path is tested against.
void sgemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                     const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate);

// op(B) [K,N] packed once into column panels, for many products with different A (the recurrent
// weights inside the time loop: packed once per call, streamed from cache at every step).
struct PackedB {
  int64_t K = 0, N = 0;
  int64_t panel = 0;   // columns per panel (the active ISA's micro-kernel width)
  int64_t group = 0;   // panels interleaved row by row (0: none); see pack_b
  AlignedFloats data;  // layout private to gemm.cc
};
// rows: how many rows of A the packing will be multiplied with, when the caller knows (0: not
// known, or many). For one to a few (a B=1 recurrence: 1-3 rows on AVX-512, 1 on AVX2) the panels
// are stored interleaved in runs as wide as such a tile, which it streams up to twice as fast from
// L2. Only the speed differs: every product gives the same bits from either layout, with any A.
void pack_b(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb, PackedB* out, int64_t rows = 0);

// pack_b of op(B) = W^T for a W [blocks * w, K] whose row blocks lie apart: rows [i*w, (i+1)*w) are
// block[i]'s w rows (ldw apart), packed straight from where they are (no gathered copy). w must be
// a multiple of gemm_panel_width() when blocks > 1, so that no panel takes rows from two blocks.
void pack_bt_blocks(int64_t K, int64_t blocks, const float* const* block, int64_t w, int64_t ldw,
                    PackedB* out, int64_t rows = 0);

// Columns [n0, n1) of C (+)= A[M,K] * B, on the calling thread. n0 must be a multiple of
// gemm_panel_width() (n1 may be anything up to B.N). Threads split the columns of one product among
// themselves with it.
void sgemm_packed(int64_t M, int64_t n0, int64_t n1, const float* A, int64_t lda, const PackedB& B, float* C,
                  int64_t ldc, bool accumulate);

// Column panel width of the active ISA's micro-kernel (split points for sgemm_packed).
int64_t gemm_panel_width();

}  // namespace gated
