// seq_common.h: ISA-independent pieces shared by the sequence drivers (rnn.cc, lstm.cc, the GRU's
// gru_*.cc, jordan.cc): processing-step -> time-index logic, workspace buffers, masked-row zeroing,
// the per-thread packing of the recurrent weights, the time-loop skeletons (forward_loop,
// backward_loop) and the thread-count-independent column reductions.
// Internal to native/; not part of any contract.
#pragma once
#include <stdint.h>
#include <string.h>

#include <memory>
#include <stdexcept>
#include <vector>

#include "cells.h"
#include "dispatch.h"
#include "gemm.h"
#include "pool.h"

namespace gated {
namespace seq {

// The calling thread's workspace arena: one grow-only block of floats, reused by every later call
// on that thread. Why: this VM pays about 3 ms per MB of fresh pages, and a per-call std::vector of
// megabytes (dG of a training step, the gates of an inference call) would fault all of it in again
// on every call (above glibc's mmap threshold every allocation gets fresh pages).
// Retained memory: each thread that calls a driver (the JS main thread, and each libuv worker that
// ran an async call) keeps the largest workspace it has needed until it exits: for an LSTM about
// 4*T*B*H floats (inference, the input projection) or 4*T*B*H + 10*B*H (backward, dG).
// A driver takes its arena once, on the calling thread, before its parallel region; a thread runs
// one driver at a time, so the block is never shared by two live calls.
inline float* thread_arena(int64_t n) {
  static thread_local AlignedFloats a;  // on a cache line, so every Workspace array is too
  if (n > (int64_t)a.size()) {
    a = AlignedFloats();  // free first: old + new at once would double the peak
    a.resize((size_t)n);
  }
  return a.data();
}

// Carves several uninitialised workspace arrays out of the thread's arena (the drivers write every
// element they later read, or zero it explicitly). Declare each array with add(), then take() once:
//   float *dG, *dh;  seq::Workspace ws;  ws.add(&dG, TB * GH);  ws.add(&dh, B * H);  ws.take();
// Each array starts a multiple of 16 floats (64 bytes) into the block. Pointers stay valid until the next
// driver call on this thread.
class Workspace {
 public:
  static constexpr int kMaxArrays = 8;
  void add(float** slot, int64_t n) {
    if (count_ == kMaxArrays) throw std::logic_error("seq::Workspace: more than kMaxArrays arrays");
    slots_[count_] = slot;
    offsets_[count_++] = total_;
    total_ += ((n > 0 ? n : 0) + 15) / 16 * 16;
  }
  void take() {
    float* base = thread_arena(total_ > 0 ? total_ : 1);
    for (int i = 0; i < count_; i++) *slots_[i] = base + offsets_[i];
  }

 private:
  float** slots_[kMaxArrays];
  int64_t offsets_[kMaxArrays];
  int count_ = 0;
  int64_t total_ = 0;
};

// The helpers below take any inputs struct with `s.T`, `s.B`, `lengths` and `reverse` (SeqInputs, and
// the Jordan cell's JordanInputs).
template <class In>
inline int64_t seq_len(const In& in, int64_t b) {
  return in.lengths ? in.lengths[b] : in.s.T;
}

// Time index of batch row b at processing step s, or -1 when b has no step s (s >= len_b).
template <class In>
inline int64_t time_at(const In& in, int64_t b, int64_t s) {
  const int64_t len = seq_len(in, b);
  if (s >= len) return -1;
  return in.reverse ? len - 1 - s : s;
}

// Number of processing steps: the longest sequence.
template <class In>
inline int64_t num_steps(const In& in) {
  if (!in.lengths) return in.s.T;
  int64_t m = 0;
  for (int64_t b = 0; b < in.s.B; b++) m = in.lengths[b] > m ? in.lengths[b] : m;
  return m;
}

// Zeroes the rows (t, b) with t >= len_b of a [T, B, width] block.
template <class In>
inline void zero_masked_rows(const In& in, float* block, int64_t width) {
  if (!in.lengths || width == 0) return;
  for (int64_t b = 0; b < in.s.B; b++)
    for (int64_t t = seq_len(in, b); t < in.s.T; t++)
      memset(block + (t * in.s.B + b) * width, 0, sizeof(float) * width);
}

// Zeroes the masked rows of every block of a cache (cells.h, jordan.h; a null cache: nothing).
template <class In, int N>
inline void zero_masked_rows(const In& in, const CacheBlocks<float, N>& cache) {
  for (int i = 0; i < cache.count(); i++)
    if (cache[i].data) zero_masked_rows(in, cache[i].data, cache[i].width);
}

inline void copy_or_zero(float* dst, const float* src, int64_t n) {
  if (n <= 0) return;
  if (src)
    memcpy(dst, src, sizeof(float) * n);
  else
    memset(dst, 0, sizeof(float) * n);
}

// sgemm that tolerates empty products: C = 0 when K == 0 (and not accumulating).
inline void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float* C, int64_t ldc, bool acc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!acc)
      for (int64_t m = 0; m < M; m++) memset(C + m * ldc, 0, sizeof(float) * N);
    return;
  }
  sgemm(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, acc);
}

// Threads for a time loop whose steps split `grains` panels of units and do `work` multiply-adds:
// at most one per grain, and one alone when a step is too small to pay for a barrier (about a
// microsecond).
inline int step_threads(int64_t grains, int64_t work) {
  if (work < (int64_t)1 << 15) return 1;
  return grains < 256 ? (int)(grains > 0 ? grains : 1) : 256;
}
// The cells' time loops: H units in grains of `panel`, a [B, H] x [H, G*H] product per step.
inline int loop_threads(int64_t B, int64_t G, int64_t H, int64_t panel) {
  return step_threads((H + panel - 1) / panel, B * G * H * H);
}

// Per-thread packed weights and packing scratch, kept between calls so that a call does not pay
// fresh pages (page faults, zero fills) for megabytes of packed W_hh every time: each thread keeps
// the capacity of the largest slice it has packed. A thread runs one region at a time (pool.h), and
// no driver uses a slot while another driver could on the same thread.
inline PackedB& thread_pack(int slot) {
  static thread_local PackedB packs[2];
  return packs[slot];
}
inline std::vector<float>& thread_scratch() {
  static thread_local std::vector<float> tmp;
  return tmp;
}

// Whether a time loop multiplies h_prev by W_hh in place (sgemm_serial on W_hh's rows, which packs a
// few panels at a time and uses them at once) instead of
// packing each thread's slice of W_hh once per call. Packing reads and writes the whole slice, about
// the cost of two steps, and for few rows (B <= kGemmSmallM) a step in place streams W_hh about as
// fast as a packed one. Measured (LSTM inference, median ms, 1 / 2 threads, packed -> in place):
//   B=5 H=512: S=1 0.79 -> 0.37 / 0.42 -> 0.27;  S=8 2.42 -> 1.97 / 1.50 -> 1.26;
//              S=16 3.85 -> 3.56 / 2.25 -> 2.89 (packing wins with two threads)
//   B=1 H=256: S=1 0.24 -> 0.09 / 0.18 -> 0.07;  S=8 0.33 -> 0.21 / 0.19 -> 0.14
// The choice depends only on the shape (and the lengths), never on the thread count.
constexpr int64_t kInPlaceMaxSteps = 8;
inline bool recurrent_in_place(int64_t S, int64_t B) { return B <= kGemmSmallM && S <= kInPlaceMaxSteps; }

// One thread's step product for gates [g0, g1) of units [u0, u1) (w = u1 - u0):
// out[b * ldo + (g - g0) * w + j] = h[b, :] . W_hh[g*H + u0 + j, :], from the packed slice `pk`
// (pack_unit_slice) or, when pk is null, from W_hh in place. With gates [0, 1), H is only the rows'
// length, so any one-gate W [N, K] works with K for H (Jordan's W_hy and W_ho).
inline void recurrent_product(int64_t B, int64_t H, const float* h, int64_t ldh, const float* w_hh,
                              int64_t g0, int64_t g1, int64_t u0, int64_t u1, const PackedB* pk, float* out,
                              int64_t ldo) {
  const int64_t w = u1 - u0;
  if (pk) {
    sgemm_packed(B, 0, (g1 - g0) * w, h, ldh, *pk, out, ldo, false);
    return;
  }
  for (int64_t g = g0; g < g1; g++)
    sgemm_serial(false, true, B, w, H, h, ldh, w_hh + (g * H + u0) * H, H, out + (g - g0) * w, ldo, false);
}

// Packs the transposed recurrent weights of units [u0, u1) of gates [g0, g1) into one matrix:
// op(B) [H, (g1-g0)*w] (w = u1 - u0), column (g - g0) * w + (j - u0) = W_hh row g*H + j. A thread
// then gets all its gates from one sgemm_packed into columns [0, (g1-g0)*w), whatever the panel
// width. B is the rows of h the slice will multiply (a layout hint, pack_b). Packed straight from
// W_hh when w is a whole number of panels, else from rows gathered in `tmp`. A one-gate W [N, K]
// works as in recurrent_product.
constexpr int64_t kMaxGates = kLstmGates;  // the most gates of any cell (LSTM)
inline void pack_unit_slice(const float* w_hh, int64_t H, int64_t g0, int64_t g1, int64_t u0, int64_t u1,
                            int64_t B, std::vector<float>& tmp, PackedB* out) {
  const int64_t w = u1 - u0, G = g1 - g0;
  const float* rows[kMaxGates];
  for (int64_t g = g0; g < g1; g++) rows[g - g0] = w_hh + (g * H + u0) * H;
  if ((G == 1 || w % gemm_panel_width() == 0)) {
    pack_bt_blocks(H, G, rows, w, H, out, B);
    return;
  }
  tmp.resize((size_t)(G * w * H));
  for (int64_t g = 0; g < G; g++) memcpy(tmp.data() + g * w * H, rows[g], sizeof(float) * w * H);
  pack_b(true, H, G * w, tmp.data(), H, out, B);
}

// ---- the time-loop skeletons every cell's driver runs ----
// Threads split the H hidden units in multiples of the GEMM panel width (split_range), so that each
// owns its slice of W_hh and its part of every state row; a step's element-wise work and its part of
// the next product then need no synchronisation beyond the step's barrier.

// One thread's part of a time loop.
struct LoopThread {
  const Team& team;
  int64_t u0 = 0, u1 = 0, w = 0;              // its hidden units [u0, u1), w = u1 - u0 (may be 0)
  const PackedB* pk[2] = {nullptr, nullptr};  // forward: its packed W_hh slices (null: in place)
};

inline LoopThread loop_thread(const Team& team, int64_t H, int64_t P) {
  LoopThread th{team};
  split_range(H, P, team.tid, team.size, &th.u0, &th.u1);
  th.w = th.u1 - th.u0;
  return th;
}

// The input projection gx = x W_ih^T [T*B, G*H] (unit u of gate g in column g*H + u) for the units
// [u0, u1) of every gate, with the rows (t, b) past len_b zeroed. The same arithmetic as one product
// over all columns (gemm.h), on the calling thread.
inline void project_units(const SeqInputs& in, int64_t G, int64_t u0, int64_t u1, float* gx) {
  const int64_t TB = in.s.T * in.s.B, D = in.s.D, H = in.s.H, GH = G * H, w = u1 - u0;
  if (w <= 0) return;
  for (int64_t g = 0; g < G; g++)
    sgemm_serial(false, true, TB, w, D, in.x, D, in.w_ih + (g * H + u0) * D, D, gx + g * H + u0, GH, false);
  if (!in.lengths) return;
  for (int64_t b = 0; b < in.s.B; b++)
    for (int64_t t = seq_len(in, b); t < in.s.T; t++)
      for (int64_t g = 0; g < G; g++) memset(gx + (t * in.s.B + b) * GH + g * H + u0, 0, sizeof(float) * w);
}

// The forward time loop: one parallel region, S processing steps, one barrier after each. Each
// thread first computes its units' columns of the input projection gx (project_units; so the rows it
// reads at every step are in its own cache, and the projection needs no region of its own), then
// packs its units' rows of W_hh, gates [0, split) into th.pk[0] and gates [split, G) into th.pk[1]
// (split == G: one slice), or leaves them null to read W_hh in place when the call has few steps
// (recurrent_in_place). A loop too small for two threads gets the projection as one threaded
// product first. h is double-buffered in hbuf [2, B, H], which the caller fills with h0:
// step(th, s, hc, hn) reads the state hc and writes hn, both [B, H]. Returns the final state
// (inside hbuf).
template <class Step>
inline const float* forward_loop(const SeqInputs& in, int64_t G, int64_t split, float* gx, float* hbuf,
                                 Step&& step) {
  const int64_t B = in.s.B, H = in.s.H, S = num_steps(in), P = gemm_panel_width();
  const bool in_place = recurrent_in_place(S, B);
  const int threads = loop_threads(B, G, H, P);
  const bool own_projection = threads > 1 && get_threads() > 1;
  if (!own_projection) {
    gemm(false, true, in.s.T * B, G * H, in.s.D, in.x, in.s.D, in.w_ih, in.s.D, gx, G * H, false);
    zero_masked_rows(in, gx, G * H);
  }
  parallel(threads, [&](const Team& team) {
    LoopThread th = loop_thread(team, H, P);
    if (own_projection) project_units(in, G, th.u0, th.u1, gx);
    if (!in_place && th.w > 0) {
      PackedB* pk0 = &thread_pack(0);
      pack_unit_slice(in.w_hh, H, 0, split, th.u0, th.u1, B, thread_scratch(), pk0);
      th.pk[0] = pk0;
      if (split < G) {
        PackedB* pk1 = &thread_pack(1);
        pack_unit_slice(in.w_hh, H, split, G, th.u0, th.u1, B, thread_scratch(), pk1);
        th.pk[1] = pk1;
      }
    }
    for (int64_t s = 0; s < S; s++) {
      step(th, s, hbuf + (s & 1) * B * H, hbuf + ((s + 1) & 1) * B * H);
      team.barrier();
    }
  });
  return hbuf + (S & 1) * B * H;
}

// Inside a forward step: row(b, r, hcb, hnb) for every batch row b that has step s, with r = t*B + b
// its row in the [T, B, .] blocks and hcb / hnb its units [u0, u1) of hc / hn. A row without step s
// carries its state (hnb = hcb).
template <class Row>
inline void step_rows(const SeqInputs& in, const LoopThread& th, int64_t s, const float* hc, float* hn,
                      Row&& row) {
  const int64_t B = in.s.B, H = in.s.H;
  if (th.w <= 0) return;
  for (int64_t b = 0; b < B; b++) {
    const int64_t t = time_at(in, b, s);
    const float* hcb = hc + b * H + th.u0;
    float* hnb = hn + b * H + th.u0;
    if (t < 0) {
      memcpy(hnb, hcb, sizeof(float) * th.w);
      continue;
    }
    row(b, t * B + b, hcb, hnb);
  }
}

// The backward's reverse time loop, processing steps s = S-1 down to 0. In each, every thread
// computes the gate gradients of its units: row(th, b, r, dab) for each batch row b with step s (r its
// [T, B, .] row, dab its row of the step's hidden-side gradients da [B, G*H], offset to unit u0);
// rows without step s get zeros in da (no contribution through W_hh). Then the team meets, and
// finish(th, s, da) adds da W_hh to dh for its units (the GRU's reset_before has a phase more).
// dA [2, B, G*H] double-buffers da, so that one barrier per step suffices.
template <class Row, class Finish>
inline void backward_loop(const SeqInputs& in, int64_t G, float* dA, Row&& row, Finish&& finish) {
  const int64_t B = in.s.B, H = in.s.H, GH = G * H, S = num_steps(in), P = gemm_panel_width();
  parallel(loop_threads(B, G, H, P), [&](const Team& team) {
    const LoopThread th = loop_thread(team, H, P);
    for (int64_t k = 0; k < S; k++) {
      const int64_t s = S - 1 - k;
      float* da = dA + (k & 1) * B * GH;
      for (int64_t b = 0; b < B && th.w > 0; b++) {
        const int64_t t = time_at(in, b, s);
        float* dab = da + b * GH + th.u0;
        if (t < 0) {
          for (int64_t q = 0; q < G; q++) memset(dab + q * H, 0, sizeof(float) * th.w);
          continue;
        }
        row(th, b, t * B + b, dab);
      }
      team.barrier();
      finish(th, s, da);
    }
  });
}

// out[j] = sum over the T*B rows of a[:, j] (row order), j in [0, n); columns split across threads.
inline void col_sum(int64_t rows, int64_t n, const float* a, int64_t lda, float* out) {
  if (n <= 0) return;
  const CellKernels& ck = kernels().cell;
  if (rows * n < ((int64_t)1 << 16)) {
    ck.col_sum(rows, n, a, lda, out);
    return;
  }
  parallel(256, [&](const Team& team) {
    int64_t j0, j1;
    split_range(n, 64, team.tid, team.size, &j0, &j1);
    if (j1 > j0) ck.col_sum(rows, j1 - j0, a + j0, lda, out + j0);
  });
}

// out[j] = sum over rows of a[:, j] * b[:, j] (row order).
inline void col_dot(int64_t rows, int64_t n, const float* a, int64_t lda, const float* b, int64_t ldb,
                    float* out) {
  if (n <= 0) return;
  const CellKernels& ck = kernels().cell;
  if (rows * n < ((int64_t)1 << 16)) {
    ck.col_dot(rows, n, a, lda, b, ldb, out);
    return;
  }
  parallel(256, [&](const Team& team) {
    int64_t j0, j1;
    split_range(n, 64, team.tid, team.size, &j0, &j1);
    if (j1 > j0) ck.col_dot(rows, j1 - j0, a + j0, lda, b + j0, ldb, out + j0);
  });
}

// Fills bias [G*H] with b_ih + b_hh (null = 0), except gates g >= g_split take b_ih alone.
inline void fold_bias(const SeqInputs& in, int64_t G, int64_t g_split, float* bias) {
  const int64_t H = in.s.H;
  for (int64_t k = 0; k < G * H; k++) {
    float v = in.b_ih ? in.b_ih[k] : 0.0f;
    if (k < g_split * H && in.b_hh) v += in.b_hh[k];
    bias[k] = v;
  }
}

// Backward of a call with no work: H == 0 (nothing reaches x: dx = 0) or T*B == 0 (the final-state
// gradient passes straight to dh0, weight gradients are zero). Returns true when it handled the call.
// Cell-specific outputs (dc0, dw_peep) are the caller's.
inline bool backward_trivial(const SeqInputs& in, const SeqGrads& g, int64_t G, const float* dh_n) {
  const int64_t B = in.s.B, D = in.s.D, H = in.s.H, TB = in.s.T * B, GH = G * H;
  if (H <= 0) {
    copy_or_zero(g.dx, nullptr, TB * D);
    return true;
  }
  if (TB > 0) return false;
  copy_or_zero(g.dh0, dh_n, B * H);
  copy_or_zero(g.dw_ih, nullptr, GH * D);
  copy_or_zero(g.dw_hh, nullptr, GH * H);
  if (g.db_ih) copy_or_zero(g.db_ih, nullptr, GH);
  if (g.db_hh) copy_or_zero(g.db_hh, nullptr, GH);
  return true;
}

// After the reverse loop, with dG [T*B, G*H] the pre-activation gradients: dW_ih = dG^T x and
// dx = dG W_ih (one GEMM each over all rows).
inline void input_grads(const SeqInputs& in, const SeqGrads& g, int64_t G, const float* dG) {
  const int64_t D = in.s.D, TB = in.s.T * in.s.B, GH = G * in.s.H;
  gemm(true, false, GH, D, TB, dG, GH, in.x, D, g.dw_ih, D, false);
  gemm(false, false, TB, D, GH, dG, GH, in.w_ih, D, g.dx, D, false);
}

// Bias gradients of cells whose biases both enter every pre-activation unscaled (RNN, LSTM, the
// GRU's reset_before): each is the column sums of dG.
inline void bias_grads(const SeqInputs& in, const SeqGrads& g, int64_t G, const float* dG) {
  const int64_t TB = in.s.T * in.s.B, GH = G * in.s.H;
  if (g.db_ih || g.db_hh) {
    float* db = g.db_ih ? g.db_ih : g.db_hh;
    col_sum(TB, GH, dG, GH, db);
    if (g.db_ih && g.db_hh) memcpy(g.db_hh, db, sizeof(float) * GH);
  }
}

// All weight gradients of the RNN and the LSTM: input_grads, dW_hh = dG^T h_prev (h_prev [T*B, H]
// from the cache) and bias_grads.
inline void weight_grads(const SeqInputs& in, const SeqGrads& g, int64_t G, const float* dG,
                         const float* hprev) {
  const int64_t H = in.s.H, TB = in.s.T * in.s.B, GH = G * H;
  input_grads(in, g, G, dG);
  gemm(true, false, GH, H, TB, dG, GH, hprev, H, g.dw_hh, H, false);
  bias_grads(in, g, G, dG);
}

}  // namespace seq
}  // namespace gated
