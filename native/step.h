// step.h: the decode step: one time step (T = 1) of an RNN / LSTM / GRU cell for B rows, optionally
// followed by the output layer (dense + log-softmax + top-k), in one call. This is what greedy
// decoding, sampling and beam search run per token; a beam step is the same call over B*K rows with
// groupSize = K (seq2seq: the input x can carry an attention context concatenated to the embedding,
// x = [emb | ctx], D = E + C).
//
// Shapes (row-major float32, PyTorch layout and gate order as cells.h; G = 1 rnn, 4 lstm, 3 gru):
//   weights  w_ih [G*H, D], w_hh [G*H, H], b_ih, b_hh [G*H] or null, w_peep [3H] (lstm, p_i p_o p_f)
//            or null; output layer w_out [V, H], b_out [V] or null (V = 0: no output layer)
//   state    h [rows, H], c [rows, H] (lstm); row r of this step reads state row state_index[r]
//            (null: row r), so beams are reordered by the gather itself
//   step     x [B, D] -> h_out [B, H], c_out [B, H]; h_out / c_out may be h / c (in place): the
//            state rows are gathered before anything is written
//   output   logits = h_out w_out^T + b_out [B, V]; log_probs [B, V] (or null) = log_softmax(logits)
//            per row; with top_k > 0, rows are taken in groups of group_size and the top_k best
//            candidates (row_scores[r] (or 0) + log_probs[r, v]) of each group's group_size * V are
//            written best first to top_values / top_indices [B / group_size, top_k]
//            (index = (r % group_size) * V + v; ties: the lower index first; NaN ranks last).
//
// Arithmetic: each row is computed alone (batch-invariant, gemm.h), and the cell's numbers are
// those of the sequence forward (cells.h) with T = 1: the same products (input and recurrent kept
// apart, K blocks as in sgemm), the same gate kernels, the same bias folding. So a step gives the
// bits of lstm_forward / gru_forward / rnn_forward with seqLen 1 on the same ISA, and logits give
// the bits of linear_forward. log_softmax: m = max_v logits, s = sum_v exp(logits - m) summed in 16
// fixed partial sums (the same on every vector ISA) then added in double, log_probs = (logits - m) -
// (float)log(s).
//
// Speed: a step reads each weight once. The weights are packed (gemm.h panels) into a StepCache the
// first time and whenever its key changes: the caller's `version` (which the caller bumps on every
// weight update), the weight arrays' addresses, the sizes and the ISA. The recurrent cell's columns
// are packed unit-major (all G gates of a block of units together), so a thread owns whole units:
// it runs its units' input and recurrent products and gate updates with no barrier between them;
// one barrier then lets the output layer read all of h_out (split over threads by columns of V),
// and one more splits the log-softmax / top-k by groups. GRU reset-before needs r of every unit
// before its n-gate product: one barrier more. Results do not depend on the thread count.
#pragma once
#include <stdint.h>

#include <mutex>
#include <vector>

#include "gemm.h"

namespace gated {

enum class StepCell : int { RnnTanh = 0, RnnRelu = 1, Lstm = 2, GruResetAfter = 3, GruResetBefore = 4 };

inline int64_t step_gates(StepCell c) {
  return c == StepCell::Lstm ? 4 : (c == StepCell::GruResetAfter || c == StepCell::GruResetBefore) ? 3 : 1;
}

struct StepWeights {
  StepCell cell;
  int64_t D, H, V;  // V = 0: no output layer
  const float* w_ih;
  const float* w_hh;
  const float* b_ih;    // or null
  const float* b_hh;    // or null
  const float* w_peep;  // lstm only, or null
  const float* w_out;   // [V, H] when V > 0
  const float* b_out;   // [V] or null
};

// The packed weights of one cell (+ output layer), kept between steps. Thread-safe: step_forward
// holds `mutex` for the whole step, so concurrent steps on one cache run one after the other.
struct StepCache {
  std::mutex mutex;
  // Key of the packed contents (valid == false: nothing packed yet).
  bool valid = false;
  uint64_t version = 0;
  StepWeights w{};
  int nr = 0;  // panel width of the ISA that packed it
  // Unit-blocked packed weights: blocks of `unit_block` units, all gates of a block together.
  int64_t unit_block = 0;
  PackedB ih;               // op(B) = W_ih^T [D, G*H]
  PackedB hh;               // W_hh^T [H, Gh*H] (Gh = 2 for GRU reset-before: gates r z; else G)
  PackedB hn;               // GRU reset-before: W_hn^T [H, H]
  PackedB out;              // W_out^T [H, V] (plain column order)
  std::vector<float> bias;  // folded biases in the blocked column order of ih [G*H]
  std::vector<float> b_hn;  // GRU reset-after: b_hh of gate n [H] (zeros when absent)
  size_t packed_bytes() const;
};

struct StepArgs {
  int64_t B;                   // rows of this step
  int64_t rows;                // state rows (h, c); == B when state_index is null
  const float* x;              // [B, D]
  const float* h;              // [rows, H]
  const float* c;              // [rows, H] (lstm) or null (zeros)
  const int32_t* state_index;  // [B], each in [0, rows), or null
  float* h_out;                // [B, H]
  float* c_out;                // [B, H] (lstm)
  float* log_probs;            // [B, V] or null
  int64_t top_k;               // 0: no top-k
  int64_t group_size;          // >= 1, divides B
  const float* row_scores;     // [B] or null
  float* top_values;           // [B / group_size, top_k]
  int32_t* top_indices;        // [B / group_size, top_k]
};

// One step. Sizes and pointers are trusted (the binding checked them); packs into `cache` first
// when its key differs from (version, w, ISA). Runs on the kernel pool.
void step_forward(StepCache& cache, const StepWeights& w, uint64_t version, const StepArgs& a);

}  // namespace gated
