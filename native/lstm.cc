// lstm.cc: whole-sequence LSTM forward and backward (BPTT). Math, cache layout and masking: cells.h.
//
// Forward: one GEMM projects every time step's input straight into the cache's gates block
// (x [T*B, D] * W_ih^T -> [T*B, 4H]), then one parallel region runs the time loop. Each thread owns
// the hidden units [u0, u1) (split in multiples of the GEMM panel width), packs the 4 gates' rows of
// W_hh for its units once (for a step or two of a few rows it reads them in place instead:
// seq::recurrent_in_place), and per step computes its [B, 4*w] slice of h_prev * W_hh^T, then the
// fused gate update for its units (activating the cached gates in place), and meets the others at
// one barrier (h is double-buffered, so no second barrier is needed). Inference (cache == nullptr)
// runs the same arithmetic with the gates and the c / tanh(c) rows in the thread's workspace arena
// (seq_common.h), so its results are bit-identical to a forward that keeps the cache.
// Backward: reverse walk; per step each thread computes the gate gradients dG of its units, a
// barrier, then its columns of dh_prev = dG_step * W_hh (dG_step double-buffered: one barrier per
// step). dW_ih, dW_hh, dx are one GEMM each over all T*B rows afterwards; biases and peepholes are
// column reductions in row order.
#include <string.h>

#include <vector>

#include "cells.h"
#include "seq_common.h"

namespace gated {

void lstm_forward(const LstmForwardArgs& a) {
  const SeqInputs& in = a.in;
  const int64_t T = in.s.T, B = in.s.B, D = in.s.D, H = in.s.H, G = 4, GH = G * H, TB = T * B;
  if (H <= 0 || B <= 0) return;  // every output is empty
  if (T <= 0) {
    seq::copy_or_zero(a.h_n, a.h0, B * H);
    seq::copy_or_zero(a.c_n, a.c0, B * H);
    return;
  }
  const CellKernels& ck = kernels().cell;
  const bool keep = a.cache != nullptr;  // null: inference, nothing kept for backward
  // Workspace (thread arena): bias [4H], h double buffer [2, B, H], c state [B, H], the step's
  // recurrent product [B, 4H]; for inference also the input projection / activated gates
  // [T*B, 4H] (the cache's gates block otherwise) and the new c / tanh(c) rows [B, H].
  float *bias, *hbuf, *cst, *gh, *gates = a.cache, *c_new = nullptr, *t_new = nullptr;
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
  // Cache blocks: [gates 4H | hPrev H | cPrev H | c H | tanh(c) H], each [T, B, width].
  float* hprev = keep ? gates + TB * GH : nullptr;
  float* cprev = keep ? hprev + TB * H : nullptr;
  float* cc = keep ? cprev + TB * H : nullptr;
  float* tc = keep ? cc + TB * H : nullptr;

  seq::gemm(false, true, TB, GH, D, in.x, D, in.w_ih, D, gates, GH, false);
  seq::zero_masked_rows(in, a.y, H);
  if (keep) {
    seq::zero_masked_rows(in, gates, GH);
    for (float* blk : {hprev, cprev, cc, tc}) seq::zero_masked_rows(in, blk, H);
  }

  seq::fold_bias(in, G, G, bias);
  seq::copy_or_zero(hbuf, a.h0, B * H);
  seq::copy_or_zero(cst, a.c0, B * H);
  const float* pw = a.w_peep;  // (p_i, p_o, p_f)
  const int64_t S = seq::num_steps(in), P = gemm_panel_width();
  const bool in_place = seq::recurrent_in_place(S, B);  // few steps: W_hh unpacked

  parallel(seq::loop_threads(B, G, H, P), [&](const Team& team) {
    int64_t u0, u1;
    split_range(H, P, team.tid, team.size, &u0, &u1);
    const int64_t w = u1 - u0;
    PackedB* pk = in_place ? nullptr : &seq::thread_pack(0);
    if (w > 0 && pk) seq::pack_unit_slice(in.w_hh, H, 0, G, u0, u1, seq::thread_scratch(), pk);
    for (int64_t s = 0; s < S; s++) {
      const float* hc = hbuf + (s & 1) * B * H;
      float* hn = hbuf + ((s + 1) & 1) * B * H;
      if (w > 0) {
        float* ghs = gh + G * u0;  // this thread's [B, 4*w] slice, gate stride w
        seq::recurrent_product(B, H, hc, H, in.w_hh, 0, G, u0, u1, pk, ghs, GH);
        for (int64_t b = 0; b < B; b++) {
          const int64_t t = seq::time_at(in, b, s);
          float* hnb = hn + b * H + u0;
          const float* hcb = hc + b * H + u0;
          if (t < 0) {  // finished: the state is carried
            memcpy(hnb, hcb, sizeof(float) * w);
            continue;
          }
          const int64_t row = t * B + b, o = row * H + u0;
          float* cs = cst + b * H + u0;
          float* grow = gates + row * GH + u0;
          // c_prev, c, tanh(c): the cache rows when kept, else the state and per-row scratch.
          const float* cp;
          float *cn, *tn;
          if (keep) {
            memcpy(hprev + o, hcb, sizeof(float) * w);
            memcpy(cprev + o, cs, sizeof(float) * w);
            cp = cprev + o;
            cn = cc + o;
            tn = tc + o;
          } else {  // c_prev is read from the state before the row is written to c_new
            cp = cs;
            cn = c_new + b * H + u0;
            tn = t_new + b * H + u0;
          }
          ck.lstm_forward_row(w, grow, bias + u0, H, ghs + b * GH, w, pw ? pw + u0 : nullptr,
                              pw ? pw + H + u0 : nullptr, pw ? pw + 2 * H + u0 : nullptr, cp, grow,
                              cn, tn, hnb);
          memcpy(cs, cn, sizeof(float) * w);
          memcpy(a.y + o, hnb, sizeof(float) * w);
        }
      }
      team.barrier();
    }
  });
  memcpy(a.h_n, hbuf + (S & 1) * B * H, sizeof(float) * B * H);
  memcpy(a.c_n, cst, sizeof(float) * B * H);
}

void lstm_backward(const LstmBackwardArgs& a) {
  const SeqInputs& in = a.in;
  const SeqGrads& g = a.g;
  const int64_t T = in.s.T, B = in.s.B, H = in.s.H, G = 4, GH = G * H, TB = T * B;
  if (seq::backward_trivial(in, g, G, a.dh_n)) {
    if (H > 0) {
      seq::copy_or_zero(a.dc0, a.dc_n, B * H);
      if (a.w_peep && a.dw_peep) seq::copy_or_zero(a.dw_peep, nullptr, 3 * H);
    }
    return;
  }
  const CellKernels& ck = kernels().cell;
  const float* gates = a.cache;
  const float* hprev = gates + TB * GH;
  const float* cprev = hprev + TB * H;
  const float* cc = cprev + TB * H;
  const float* tc = cc + TB * H;
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
  const int64_t S = seq::num_steps(in), P = gemm_panel_width();

  parallel(seq::loop_threads(B, G, H, P), [&](const Team& team) {
    int64_t u0, u1;
    split_range(H, P, team.tid, team.size, &u0, &u1);
    const int64_t w = u1 - u0;
    for (int64_t k = 0; k < S; k++) {
      const int64_t s = S - 1 - k;
      float* da = dA + (k & 1) * B * GH;  // [B, 4H] hidden-side dG of this step
      for (int64_t b = 0; b < B && w > 0; b++) {
        const int64_t t = seq::time_at(in, b, s);
        if (t < 0) {  // no step here: dh, dc carried, no contribution through W_hh
          for (int64_t q = 0; q < G; q++) memset(da + b * GH + q * H + u0, 0, sizeof(float) * w);
          continue;
        }
        const int64_t row = t * B + b, o = row * H + u0;
        ck.lstm_backward_row(w, dh + b * H + u0, a.dy ? a.dy + o : nullptr,
                             dc + b * H + u0, gates + row * GH + u0, H, cprev + o, tc + o,
                             pw ? pw + u0 : nullptr, pw ? pw + H + u0 : nullptr,
                             pw ? pw + 2 * H + u0 : nullptr, dG + row * GH + u0,
                             da + b * GH + u0);
      }
      team.barrier();
      if (w > 0) sgemm_packed(B, u0, u1, da, GH, pk, dh, H, true);
    }
  });
  memcpy(g.dh0, dh, sizeof(float) * B * H);
  memcpy(a.dc0, dc, sizeof(float) * B * H);

  const float* dg = dG;
  seq::weight_grads(in, g, G, dg, hprev);
  if (pw && a.dw_peep) {  // (p_i, p_o, p_f): i and f see c_prev, o sees c
    seq::col_dot(TB, H, dg, GH, cprev, H, a.dw_peep);
    seq::col_dot(TB, H, dg + 3 * H, GH, cc, H, a.dw_peep + H);
    seq::col_dot(TB, H, dg + H, GH, cprev, H, a.dw_peep + 2 * H);
  }
}

}  // namespace gated
