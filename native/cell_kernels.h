// cell_kernels.h: the element-wise halves of the RNN/LSTM/GRU/Jordan time loops (cells.inc), one set
// per instruction set, reached through gated::kernels().cell. The drivers (rnn.cc, lstm.cc,
// gru_*.cc, jordan.cc) do the matrix products; these kernels do everything between two products for
// `n` consecutive hidden units (or outputs) of one batch row. Jordan's hidden layer is the simple
// RNN's step (rnn_forward_row / rnn_backward_row); its output layer has the two jordan_* kernels.
//
// Pointer conventions (all rows are float arrays of at least `n` floats per gate):
// - gx, bias, gates, c_prev, ...: already offset to the first unit. A gate-major row has gate g at
//   `p + g * stride` (stride H in the cache and the [B, G*H] step buffers; the width of a thread's
//   unit slice in the forward recurrent product, whose packed columns are grouped per thread).
// - Forward pre-activations are gx + bias + gh (gx the input projection, gh the recurrent product).
// - Output and input rows may be the same array (`gates` == `gx`: activated in place); no other
//   aliasing.
// - Pointers documented "or null" mean zero.
// - act: 0 tanh, 1 relu (RnnActivation); act_out: 0 tanh, 1 sigmoid, 2 linear (JordanOutActivation).
#pragma once
#include <stdint.h>

namespace gated {

struct CellKernels {
  // ---- forward ----
  // h = act(gx + bias + gh).                                        [n] each
  void (*rnn_forward_row)(int64_t n, const float* gx, const float* bias, const float* gh, int act, float* h);
  // LSTM, gates i f g o. gx/bias/gates stride sx, gh stride sh; p_i, p_o, p_f [n] or null.
  // Writes activated gates, c, tanh(c) and h = o * tanh(c).
  void (*lstm_forward_row)(int64_t n, const float* gx, const float* bias, int64_t sx, const float* gh,
                           int64_t sh, const float* p_i, const float* p_o, const float* p_f,
                           const float* c_prev, float* gates, float* c, float* tc, float* h);
  // GRU reset_after: gh holds W_h* h_prev (3 gates, stride sh), b_hn [n] or null.
  // Writes activated r z n (stride sx), hn = gh_n + b_hn and h.
  void (*gru_forward_row)(int64_t n, const float* gx, const float* bias, int64_t sx, const float* gh,
                          int64_t sh, const float* b_hn, const float* h_prev, float* gates, float* hn,
                          float* h);
  // GRU reset_before, phase 1: r, z from gx/bias (stride sx) and gh (2 gates, stride sh); writes r z
  // into gates (stride sx) and rh = r * h_prev into rh1 and rh2 (the cache's hn row and the [B, H]
  // operand of the n-gate product).
  void (*gru_forward_rz_row)(int64_t n, const float* gx, const float* bias, int64_t sx, const float* gh,
                             int64_t sh, const float* h_prev, float* gates, float* rh1, float* rh2);
  // GRU reset_before, phase 2: n = tanh(gx_n + bias_n + gh_n), h = (1 - z) n + z h_prev.  [n] each
  void (*gru_forward_n_row)(int64_t n, const float* gx_n, const float* bias_n, const float* gh_n,
                            const float* z, const float* h_prev, float* n_out, float* h);

  // Jordan output: y = act_out(z + bias), bias [n] or null.                   [n] each
  void (*jordan_output_row)(int64_t n, const float* z, const float* bias, int act_out, float* y);

  // ---- backward: dh is the carried state gradient (in) and becomes the part of dh_prev that does
  // not go through W_hh (out); dy [n] or null is added to it first. dgx (input side, the dG
  // workspace row) and dgh (hidden side, the operand of dh_prev = dgh W_hh) are gate-major with
  // stride sg, like the cached gates. ----
  // RNN: dpre = (dh + dy) act'(h); dh <- 0.                          [n] each
  void (*rnn_backward_row)(int64_t n, float* dh, const float* dy, const float* h, int act, float* dgx,
                           float* dgh);
  // LSTM: dc is in/out (carried dc in, dc_prev out); p_* or null.
  void (*lstm_backward_row)(int64_t n, float* dh, const float* dy, float* dc, const float* gates, int64_t sg,
                            const float* c_prev, const float* tc, const float* p_i, const float* p_o,
                            const float* p_f, float* dgx, float* dgh);
  // GRU reset_after: dgx = (dr, dz, dn) pre-activation grads, dgh = (dr, dz, r * dn); dh <- dh z.
  void (*gru_backward_row)(int64_t n, float* dh, const float* dy, const float* gates, int64_t sg,
                           const float* h_prev, const float* hn, float* dgx, float* dgh);
  // GRU reset_before, phase A: z and n grads into dgx and dgh (gates 1 and 2); dh <- dh z.
  void (*gru_backward_zn_row)(int64_t n, float* dh, const float* dy, const float* gates, int64_t sg,
                              const float* h_prev, float* dgx, float* dgh);
  // GRU reset_before, phase B: drh = d(r * h_prev) (the n-gate product's output) gives
  // dr = drh h_prev r (1 - r) into dgx_r and dgh_r, and dh += drh r.    [n] each
  void (*gru_backward_r_row)(int64_t n, const float* drh, const float* r, const float* h_prev, float* dh,
                             float* dgx_r, float* dgh_r);

  // Jordan output: dz = (d + dy) act_out'(y), the derivative taken from the output y; dy or null.
  void (*jordan_output_backward_row)(int64_t n, const float* d, const float* dy, const float* y, int act_out,
                                     float* dz);

  // ---- reductions, each output summed over rows 0..rows-1 in row order (thread-count independent) ----
  // out[j] = sum_r a[r*lda + j], j in [0, n).
  void (*col_sum)(int64_t rows, int64_t n, const float* a, int64_t lda, float* out);
  // out[j] = sum_r a[r*lda + j] * b[r*ldb + j].
  void (*col_dot)(int64_t rows, int64_t n, const float* a, int64_t lda, const float* b, int64_t ldb,
                  float* out);
};

}  // namespace gated
