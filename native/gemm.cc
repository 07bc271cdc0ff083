// gemm.cc: packed SGEMM drivers (contract in gemm.h): packing, cache blocking and threads around the
// active ISA's micro-kernels (gemm.inc via kernels().gemm), plus the plain reference.
//
// Goto/BLIS structure: for each NC-column block, for each KC block of K (in k order), pack op(B) into
// NR-column panels; for each MC-row block, pack op(A) into MR-row panels when A is transposed (a plain
// A is read in place, its rows already contiguous in k); the micro-kernels sweep the block. Edge
// panels are zero-padded and edge tiles go through a local buffer, so every C element gets the same
// arithmetic wherever it falls: per KC block acc = sum_k fma in k order from 0, then
// C = C + acc (C = acc for the first block when not accumulating). That order depends only on K and
// kKC, which is what makes results bit-identical across thread counts, splits, tile positions and
// row counts.
#include "gemm.h"

#include <string.h>

#include <stdexcept>

#include "dispatch.h"
#include "pool.h"

namespace gated {
namespace {

// KC: one packed B micro-panel (KC x NR = 16 KB for AVX2's NR = 16, 32 KB for AVX-512's 32) stays in
// L1 while a row block of A (MC x KC = 144 KB) streams from L2; the B block (KC x NC = 1 MB) lives in
// L2/L3.
// kKC is part of the determinism contract (the K block boundaries): same for every path and ISA.
constexpr int64_t kKC = 256;
constexpr int64_t kMC = 144;   // multiple of every ISA's MR (6, 8)
constexpr int64_t kNC = 1024;  // multiple of every ISA's NR (4, 8, 16, 32)
// Below this many multiply-adds a product runs on the calling thread (a region costs a few us).
constexpr int64_t kSerialFlops = (int64_t)1 << 20;
// Each thread gets at least this many multiply-adds.
constexpr int64_t kMinFlopsPerThread = (int64_t)1 << 19;

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Packs op(A) rows [m0, m0+mc) x columns [k0, k0+kc) into panels of mr rows: element (i, k) of
// panel p at ap[p*kc*mr + k*mr + i]. Rows past mc in the last panel are never read (left as is).
// Used for a transposed A (a plain A is read in place).
void pack_a(bool trans_a, const float* A, int64_t lda, int64_t m0, int64_t mc, int64_t k0, int64_t kc, int mr,
            float* ap) {
  if (trans_a) {
    // (m, k) at A[k*lda + m]. Eight k rows at a time across every panel: a power-of-two lda puts all
    // source rows in the same L1 sets, and 8 rows fit its ways (all kc rows at once would thrash).
    for (int64_t kb = 0; kb < kc; kb += 8) {
      const int64_t ke = min64(kb + 8, kc);
      for (int64_t p = 0; p * mr < mc; p++) {
        const int64_t rows = min64(mr, mc - p * mr);
        const float* src = A + (k0 + kb) * lda + m0 + p * mr;
        float* dst = ap + p * kc * mr + kb * mr;
        if (rows == mr && mr == 8) {  // the common full panels: fixed-size copies the compiler unrolls
          for (int64_t k = 0; k < ke - kb; k++) memcpy(dst + k * 8, src + k * lda, 8 * sizeof(float));
        } else if (rows == mr && mr == 6) {
          for (int64_t k = 0; k < ke - kb; k++) memcpy(dst + k * 6, src + k * lda, 6 * sizeof(float));
        } else {
          for (int64_t k = 0; k < ke - kb; k++)
            for (int64_t i = 0; i < rows; i++) dst[k * mr + i] = src[k * lda + i];
        }
      }
    }
    return;
  }
  for (int64_t p = 0; p * mr < mc; p++) {  // (m, k) at A[m*lda + k]
    const int64_t rows = min64(mr, mc - p * mr);
    float* dst = ap + p * kc * mr;
    for (int64_t i = 0; i < rows; i++) {
      const float* src = A + (m0 + p * mr + i) * lda + k0;
      for (int64_t k = 0; k < kc; k++) dst[k * mr + i] = src[k];
    }
  }
}

// Packs op(B) rows [k0, k0+kc) x columns [n0, n0+nc) into panels of g.nr columns, zero-padded past
// nc: element (k, j) of panel p at bp[p*ps + k*rs + j]. A transposed B (W [N, K], the weights of
// every forward product) goes through the ISA's transposing packer.
void pack_b_block(const GemmKernels& g, bool trans_b, const float* B, int64_t ldb, int64_t k0, int64_t kc,
                  int64_t n0, int64_t nc, float* bp, int64_t ps, int64_t rs) {
  if (trans_b) {  // (k, n) at B[n*ldb + k]
    g.pack_bt(kc, nc, B + n0 * ldb + k0, ldb, bp, ps, rs);
    return;
  }
  const int nr = g.nr;
  for (int64_t p = 0; p * nr < nc; p++) {  // (k, n) at B[k*ldb + n]
    const int64_t cols = min64(nr, nc - p * nr);
    float* dst = bp + p * ps;
    const float* src = B + k0 * ldb + n0 + p * nr;
    for (int64_t k = 0; k < kc; k++) {
      memcpy(dst + k * rs, src + k * ldb, sizeof(float) * (size_t)cols);
      for (int64_t j = cols; j < nr; j++) dst[k * rs + j] = 0.0f;
    }
  }
}

// PackedB's layout: panels of nr columns, each holding all K rows. With group == 0 they follow one
// another (panel p at p*K*nr, row k at + k*nr: one stream per panel, the layout of sgemm's own
// packed blocks). With group = g, each run of g panels (the last may have fewer) is stored
// interleaved row by row: row k of the run's panels is one contiguous g*nr block. A tile of one to
// a few rows takes g panels at once, and streams them faster as one run than as g separate
// panels when they are in L2: on the Zen 5 machine a 1 x 512 x 256 product over packed W_hh went
// from 4.5 to 2.4 us (117 to 219 GB/s), 2 rows the same, with AVX2 1 row 4.5 to 3.4 us. Tiles that
// take fewer panels (4 rows and more on AVX-512) gain nothing and lose up to 6%, and from L3 or
// memory the two layouts stream alike, so only products of up to np_rows rows get runs.
struct PanelRun {
  const float* data;   // panel p0's row 0
  int64_t p0, panels;  // the run's first panel and its panel count
  int64_t ps, rs;      // panel and row strides inside the run (floats)
};
inline PanelRun panel_run(const PackedB& B, int64_t p) {
  const int64_t nr = B.panel, np = (B.N + nr - 1) / nr;
  if (B.group == 0) return {B.data.data(), 0, np, B.K * nr, nr};
  const int64_t p0 = p / B.group * B.group, g = min64(B.group, np - p0);
  return {B.data.data() + p0 * B.K * nr, p0, g, nr, g * nr};
}

// Packing buffers of the calling thread: grown once, reused by every later call.
float* scratch_a(int64_t n) {
  thread_local AlignedFloats buf;
  if ((int64_t)buf.size() < n) buf.resize(n);
  return buf.data();
}
float* scratch_b(int64_t n) {
  thread_local AlignedFloats buf;
  if ((int64_t)buf.size() < n) buf.resize(n);
  return buf.data();
}

void zero_c(int64_t M, int64_t n0, int64_t n1, float* C, int64_t ldc) {
  for (int64_t m = 0; m < M; m++)
    for (int64_t n = n0; n < n1; n++) C[m * ldc + n] = 0.0f;
}

// Columns per packed B block: kNC, or for few rows (M <= kGemmSmallM, a decode step or a GEMV) a
// few panels, so the block is packed and used while it is still in L1/L2 (a 1 MB block would go out
// to memory and back for a product that reads it once).
inline int64_t nc_block(const GemmKernels& g, int64_t M) {
  return M <= kGemmSmallM ? 4 * (int64_t)g.nr : kNC;
}

// C rows [m0, m1) x columns [n0, n1) of the product, on the calling thread. K >= 1.
void gemm_range(const GemmKernels& g, bool trans_a, bool trans_b, int64_t m0, int64_t m1, int64_t n0,
                int64_t n1, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                int64_t ldc, bool accumulate) {
  if (m1 <= m0 || n1 <= n0) return;
  const int mr = g.mr, nr = g.nr;
  const int64_t kc_max = min64(kKC, K);
  const int64_t ncb = nc_block(g, m1 - m0);
  const int64_t nc_max = min64(ncb, n1 - n0);
  const int64_t mc_max = min64(kMC, m1 - m0);
  float* bp = scratch_b(kc_max * ((nc_max + nr - 1) / nr) * nr);
  float* ap = trans_a ? scratch_a(kc_max * ((mc_max + mr - 1) / mr) * mr) : nullptr;
  for (int64_t jc = n0; jc < n1; jc += ncb) {
    const int64_t nc = min64(ncb, n1 - jc);
    for (int64_t pc = 0; pc < K; pc += kKC) {
      const int64_t kc = min64(kKC, K - pc);
      const int add = accumulate || pc > 0;
      pack_b_block(g, trans_b, B, ldb, pc, kc, jc, nc, bp, kc * nr, nr);
      for (int64_t ic = m0; ic < m1; ic += kMC) {
        const int64_t mc = min64(kMC, m1 - ic);
        if (trans_a) {
          pack_a(trans_a, A, lda, ic, mc, pc, kc, mr, ap);
          g.block(mc, nc, kc, ap, 1, mr, kc * mr, bp, kc * nr, nr, C + ic * ldc + jc, ldc, add);
        } else {
          // Rows of a plain A are already contiguous in k: the kernels read them in place (measured
          // faster than packing: dx 2048x128x1024 went from ~87 to ~107 GFLOP/s on one core).
          g.block(mc, nc, kc, A + ic * lda + pc, lda, 1, mr * lda, bp, kc * nr, nr, C + ic * ldc + jc, ldc,
                  add);
        }
      }
    }
  }
}

}  // namespace

void sgemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                     const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  for (int64_t m = 0; m < M; m++)
    for (int64_t n = 0; n < N; n++) {
      float s = 0;
      for (int64_t k = 0; k < K; k++)
        s += (trans_a ? A[k * lda + m] : A[m * lda + k]) * (trans_b ? B[n * ldb + k] : B[k * ldb + n]);
      C[m * ldc + n] = accumulate ? C[m * ldc + n] + s : s;
    }
}

void sgemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate) zero_c(M, 0, N, C, ldc);
    return;
  }
  gemm_range(kernels().gemm, trans_a, trans_b, 0, M, 0, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
           const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  const int64_t flops = M * N * (K > 0 ? K : 1);
  const int threads = get_threads();
  if (K <= 0 || threads <= 1 || flops < kSerialFlops) {
    sgemm_serial(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
    return;
  }
  const GemmKernels& g = kernels().gemm;
  // Split in whole panels (N) or whole MR-row chunks (M): each thread packs what it needs of the
  // other operand itself. A plain A is read in place, so splitting N duplicates nothing; the wider
  // dimension is split. A transposed A is packed: splitting N makes every thread pack all of op(A),
  // splitting M all of op(B), so the smaller of the two is duplicated (M <= N: split N). For the
  // backward's dW = dG^T X (M = 4H = 1024 rows, N = 128..256) that halves each thread's packing.
  const int64_t npanels = (N + g.nr - 1) / g.nr, nchunks = (M + g.mr - 1) / g.mr;
  const bool split_n = trans_a ? (M <= N || nchunks < 2 * (int64_t)threads)
                               : (npanels >= nchunks || npanels >= 4 * (int64_t)threads);
  const int64_t units = split_n ? npanels : nchunks;
  int64_t max_t = min64(min64(threads, units), flops / kMinFlopsPerThread);
  if (max_t < 1) max_t = 1;
  parallel((int)max_t, [&](const Team& t) {
    int64_t u0, u1;
    split_range(units, 1, t.tid, t.size, &u0, &u1);
    if (split_n)
      gemm_range(g, trans_a, trans_b, 0, M, min64(u0 * g.nr, N), min64(u1 * g.nr, N), K, A, lda, B, ldb, C,
                 ldc, accumulate);
    else
      gemm_range(g, trans_a, trans_b, min64(u0 * g.mr, M), min64(u1 * g.mr, M), 0, N, K, A, lda, B, ldb, C,
                 ldc, accumulate);
  });
}

namespace {

// Sizes `out` for op(B) [K, N] in the layout for `rows` (pack_b), then has fill(n0, nc, bp, ps, rs)
// pack columns [n0, n0 + nc) of each panel run into bp (panel stride ps, row stride rs).
template <class Fill>
void pack_runs(int64_t K, int64_t N, PackedB* out, int64_t rows, Fill&& fill) {
  const GemmKernels& g = kernels().gemm;
  const int nr = g.nr;
  const int64_t npanels = (N + nr - 1) / nr;
  out->K = K;
  out->N = N;
  out->panel = nr;
  out->group = rows >= 1 && rows <= g.np_rows && npanels > 1 ? g.np : 0;
  // Grow-only and not zero-filled: the packers write every element (padding columns included), and
  // a per-call fill of megabytes (W_hh of a backward call) would be a wasted pass over memory.
  const size_t n = (size_t)(npanels * nr * (K > 0 ? K : 0));
  if (out->data.size() < n) {
    out->data.clear();  // nothing to keep: skip copying the old contents into the new block
    out->data.resize(n);
  }
  if (K <= 0 || N <= 0) return;
  for (int64_t p = 0; p < npanels;) {  // a KC block of a run is laid out as the kernels read it
    const PanelRun run = panel_run(*out, p);
    const int64_t n0 = run.p0 * nr;
    fill(n0, min64(run.panels * nr, N - n0), const_cast<float*>(run.data), run.ps, run.rs);
    p = run.p0 + run.panels;
  }
}

}  // namespace

void pack_b(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb, PackedB* out, int64_t rows) {
  const GemmKernels& g = kernels().gemm;
  pack_runs(K, N, out, rows, [&](int64_t n0, int64_t nc, float* bp, int64_t ps, int64_t rs) {
    pack_b_block(g, trans_b, B, ldb, 0, K, n0, nc, bp, ps, rs);
  });
}

void pack_bt_blocks(int64_t K, int64_t blocks, const float* const* block, int64_t w, int64_t ldw,
                    PackedB* out, int64_t rows) {
  const GemmKernels& g = kernels().gemm;
  if (blocks > 1 && w % g.nr != 0) throw std::logic_error("pack_bt_blocks: w is not a multiple of the panel");
  pack_runs(K, blocks * w, out, rows, [&](int64_t n0, int64_t nc, float* bp, int64_t ps, int64_t rs) {
    for (int64_t c = n0; c < n0 + nc;) {  // the run's columns, a block's rows at a time
      const int64_t i = c / w, c1 = min64((i + 1) * w, n0 + nc);
      g.pack_bt(K, c1 - c, block[i] + (c - i * w) * ldw, ldw, bp + (c - n0) / g.nr * ps, ps, rs);
      c = c1;
    }
  });
}

void sgemm_packed(int64_t M, int64_t n0, int64_t n1, const float* A, int64_t lda, const PackedB& B, float* C,
                  int64_t ldc, bool accumulate) {
  if (n1 > B.N) n1 = B.N;
  if (M <= 0 || n1 <= n0) return;
  const int64_t K = B.K;
  if (K <= 0) {
    if (!accumulate) zero_c(M, n0, n1, C, ldc);
    return;
  }
  const GemmKernels& g = kernels().gemm;
  const int64_t nr = B.panel;
  if (nr != g.nr || n0 % nr != 0) {
    // Packed under another ISA (set_isa in tests) or a misaligned n0: plain loops over the packed
    // layout, same k order and KC blocks as the kernels (values may differ in the last bit: no FMA).
    for (int64_t n = n0; n < n1; n++) {
      const PanelRun run = panel_run(B, n / nr);
      const float* bp = run.data + (n / nr - run.p0) * run.ps + n % nr;
      for (int64_t m = 0; m < M; m++) {
        float c = accumulate ? C[m * ldc + n] : 0.0f;
        for (int64_t pc = 0; pc < K; pc += kKC) {
          float acc = 0.0f;
          for (int64_t k = pc; k < min64(pc + kKC, K); k++) acc += A[m * lda + k] * bp[k * run.rs];
          c = (accumulate || pc > 0) ? c + acc : acc;
        }
        C[m * ldc + n] = c;
      }
    }
    return;
  }
  // A is read in place (rows lda apart), so a step of the recurrence packs nothing; rows in blocks of
  // MC so that a large M still reuses each B panel from L1. One kernel call per panel run and block.
  for (int64_t p = n0 / nr; p * nr < n1;) {
    const PanelRun run = panel_run(B, p);
    const int64_t c0 = p * nr, c1 = min64((run.p0 + run.panels) * nr, n1);
    const float* bp = run.data + (p - run.p0) * run.ps;
    for (int64_t ic = 0; ic < M; ic += kMC) {
      const int64_t mc = min64(kMC, M - ic);
      for (int64_t pc = 0; pc < K; pc += kKC) {
        const int64_t kc = min64(kKC, K - pc);
        g.block(mc, c1 - c0, kc, A + ic * lda + pc, lda, 1, g.mr * lda, bp + pc * run.rs, run.ps, run.rs,
                C + ic * ldc + c0, ldc, accumulate || pc > 0);
      }
    }
    p = run.p0 + run.panels;
  }
}

int64_t gemm_panel_width() { return kernels().gemm.nr; }

}  // namespace gated
