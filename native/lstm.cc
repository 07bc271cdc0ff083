// lstm.cc: whole-sequence LSTM forward and backward (BPTT). Math, cache layout and masking: cells.h.
//
// Forward: one parallel region (seq::forward_loop). Each thread owns the hidden units [u0, u1) (split
// in multiples of the GEMM panel width), projects every time step's input for its units straight
// into the cache's gates block (x [T*B, D] * W_ih^T -> its columns of [T*B, 4H]), packs the 4 gates'
// rows of W_hh for its units once (for a step or two of a few rows
// it reads them in place instead: seq::recurrent_in_place), and per step computes its [B, 4*w] slice
// of h_prev * W_hh^T, then the fused gate update for its units (activating the cached gates in
// place), and meets the others at one barrier (h is double-buffered, so no second barrier is needed).
// Inference (cache == nullptr) runs the same arithmetic with the gates and the c / tanh(c) rows in
// the thread's workspace arena (seq_common.h), so its results are bit-identical to a forward that
// keeps the cache.
// Backward (seq::backward_loop): reverse walk; per step each thread computes the gate gradients dG
// of its units, a barrier, then its columns of dh_prev = dG_step * W_hh (dG_step double-buffered: one
// barrier per step). dW_ih, dW_hh, dx are one GEMM each over all T*B rows afterwards; biases and
// peepholes are column reductions in row order.
#include <string.h>

#include "cells.h"
#include "seq_common.h"

namespace gated {

void lstm_forward(const LstmForwardArgs& a) {
  const SeqInputs& in = a.in;
  const int64_t T = in.s.T, B = in.s.B, H = in.s.H, G = kLstmGates, GH = G * H, TB = T * B;
  if (T <= 0 || B <= 0 || H <= 0) {  // no step (h_n = h0, c_n = c0), or every output empty
    seq::copy_or_zero(a.h_n, a.h0, B * H);
    seq::copy_or_zero(a.c_n, a.c0, B * H);
    return;
  }
  const CellKernels& ck = kernels().cell;
  const bool keep = a.cache != nullptr;  // null: inference, nothing kept for backward
  const LstmCacheView<float> cache(a.cache, T, B, H);
  // Workspace (thread arena): bias [4H], h double buffer [2, B, H], c state [B, H], the step's
  // recurrent product [B, 4H]; for inference also the input projection / activated gates
  // [T*B, 4H] (the cache's gates block otherwise) and the new c / tanh(c) rows [B, H].
  float *bias, *hbuf, *cst, *gh, *gates = cache.gates, *c_new = nullptr, *t_new = nullptr;
  seq::Workspace ws;
  ws.add(&bias, GH);
  ws.add(&hbuf, 2 * B * H);
  ws.add(&cst, B * H);
  ws.add(&gh, B * GH);
  if (!keep) {
    ws.add(&gates, TB * GH);
    ws.add(&c_new, B * H);
    ws.add(&t_new, B * H);
  }
  ws.take();

  seq::zero_masked_rows(in, a.y, H);
  seq::zero_masked_rows(in, cache.blocks);

  seq::fold_bias(in, G, G, bias);
  seq::copy_or_zero(hbuf, a.h0, B * H);
  seq::copy_or_zero(cst, a.c0, B * H);
  const float* pw = a.w_peep;  // (p_i, p_o, p_f)

  const float* h_n = seq::forward_loop(
      in, G, G, gates, hbuf, [&](const seq::LoopThread& th, int64_t s, const float* hc, float* hn) {
        if (th.w <= 0) return;
        const int64_t u0 = th.u0, w = th.w;
        float* ghs = gh + G * u0;  // this thread's [B, 4*w] slice, gate stride w
        seq::recurrent_product(B, H, hc, H, in.w_hh, 0, G, u0, th.u1, th.pk[0], ghs, GH);
        seq::step_rows(in, th, s, hc, hn, [&](int64_t b, int64_t r, const float* hcb, float* hnb) {
          const int64_t o = r * H + u0;
          float* cs = cst + b * H + u0;
          float* grow = gates + r * GH + u0;
          // c_prev, c, tanh(c): the cache rows when kept, else the state and per-row scratch.
          const float* cp;
          float *cn, *tn;
          if (keep) {
            memcpy(cache.h_prev + o, hcb, sizeof(float) * w);
            memcpy(cache.c_prev + o, cs, sizeof(float) * w);
            cp = cache.c_prev + o;
            cn = cache.c + o;
            tn = cache.tanh_c + o;
          } else {  // c_prev is read from the state before the row is written to c_new
            cp = cs;
            cn = c_new + b * H + u0;
            tn = t_new + b * H + u0;
          }
          ck.lstm_forward_row(w, grow, bias + u0, H, ghs + b * GH, w, pw ? pw + u0 : nullptr,
                              pw ? pw + H + u0 : nullptr, pw ? pw + 2 * H + u0 : nullptr, cp, grow, cn, tn,
                              hnb);
          memcpy(cs, cn, sizeof(float) * w);
          memcpy(a.y + o, hnb, sizeof(float) * w);
        });
      });
  memcpy(a.h_n, h_n, sizeof(float) * B * H);
  memcpy(a.c_n, cst, sizeof(float) * B * H);
}

void lstm_backward(const LstmBackwardArgs& a) {
  const SeqInputs& in = a.in;
  const SeqGrads& g = a.g;
  const int64_t T = in.s.T, B = in.s.B, H = in.s.H, G = kLstmGates, GH = G * H, TB = T * B;
  if (seq::backward_trivial(in, g, G, a.dh_n)) {
    if (H > 0) {
      seq::copy_or_zero(a.dc0, a.dc_n, B * H);
      if (a.w_peep && a.dw_peep) seq::copy_or_zero(a.dw_peep, nullptr, kLstmPeepholes * H);
    }
    return;
  }
  const CellKernels& ck = kernels().cell;
  const LstmCacheView<> cache(a.cache, T, B, H);
  const float* pw = a.w_peep;

  // Workspace (thread arena): dG [T*B, 4H], the pre-activation gate gradients at (t, b) (masked
  // rows zeroed); dA [2, B, 4H] (double-buffered hidden-side dG of a step), dh, dc [B, H].
  float *dG, *dA, *dh, *dc;
  seq::Workspace ws;
  ws.add(&dG, TB * GH);
  ws.add(&dA, 2 * B * GH);
  ws.add(&dh, B * H);
  ws.add(&dc, B * H);
  ws.take();
  seq::zero_masked_rows(in, dG, GH);
  seq::copy_or_zero(dh, a.dh_n, B * H);
  seq::copy_or_zero(dc, a.dc_n, B * H);
  PackedB& pk = seq::thread_pack(0);  // op(B) = W_hh [4H, H]: dh_prev = dG_step * W_hh
  pack_b(false, GH, H, in.w_hh, H, &pk);

  seq::backward_loop(
      in, G, dA,
      [&](const seq::LoopThread& th, int64_t b, int64_t r, float* dab) {
        const int64_t u0 = th.u0, o = r * H + u0;
        ck.lstm_backward_row(th.w, dh + b * H + u0, a.dy ? a.dy + o : nullptr, dc + b * H + u0,
                             cache.gates + r * GH + u0, H, cache.c_prev + o, cache.tanh_c + o,
                             pw ? pw + u0 : nullptr, pw ? pw + H + u0 : nullptr,
                             pw ? pw + 2 * H + u0 : nullptr, dG + r * GH + u0, dab);
      },
      [&](const seq::LoopThread& th, int64_t, float* da) {
        if (th.w > 0) sgemm_packed(B, th.u0, th.u1, da, GH, pk, dh, H, true);
      });
  memcpy(g.dh0, dh, sizeof(float) * B * H);
  memcpy(a.dc0, dc, sizeof(float) * B * H);

  seq::weight_grads(in, g, G, dG, cache.h_prev);
  if (pw && a.dw_peep) {  // (p_i, p_o, p_f): i and f see c_prev, o sees c
    seq::col_dot(TB, H, dG, GH, cache.c_prev, H, a.dw_peep);
    seq::col_dot(TB, H, dG + 3 * H, GH, cache.c, H, a.dw_peep + H);
    seq::col_dot(TB, H, dG + H, GH, cache.c_prev, H, a.dw_peep + 2 * H);
  }
}

}  // namespace gated
