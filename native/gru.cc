// gru.cc: whole-sequence GRU forward and backward (BPTT), reset_after (PyTorch) and reset_before
// (Cho et al., ONNX). Math, cache layout and masking: cells.h. Same structure as lstm.cc (see its
// header comment); reset_before needs r of every unit before its n-gate product (W_hn (r h_prev)),
// so its steps have two phases and two barriers, forward and backward.
//
// Gradients. Pre-activations a_r = x_r + W_hr h_prev + b_hr (likewise z); with dh the gradient
// reaching h = (1 - z) n + z h_prev:
//   dn_pre = dh (1 - z) (1 - n^2),  dz_pre = dh (h_prev - n) z (1 - z)
// reset_after, a_n = x_n + b_in + r (W_hn h_prev + b_hn), hn = W_hn h_prev + b_hn:
//   the input side of gate n (W_in, b_in, x) gets dn_pre; the hidden side (W_hn, b_hn, and h_prev
//   through W_hn) gets r dn_pre; dr_pre = dn_pre hn r (1 - r).
//   dh_prev = dh z + [dr_pre, dz_pre, r dn_pre] W_hh
//   dW_hh = [dr_pre, dz_pre, r dn_pre]^T H_prev,  db_hh = column sums of [dr_pre, dz_pre, r dn_pre]
// reset_before, a_n = x_n + b_in + W_hn (r h_prev) + b_hn, hn = r h_prev:
//   drh = dn_pre W_hn, dr_pre = drh h_prev r (1 - r)
//   dh_prev = dh z + drh r + [dr_pre, dz_pre] W_h{r,z}
//   dW_h{r,z} = [dr_pre, dz_pre]^T H_prev, dW_hn = dn_pre^T hn,  db_hh = db_ih = column sums of dG
// In both, dW_ih = dG^T X, dx = dG W_ih, db_ih = column sums of dG, with dG = [dr_pre, dz_pre, dn_pre].
#include <string.h>

#include <vector>

#include "cells.h"
#include "seq_common.h"

namespace gated {

void gru_forward(const GruForwardArgs& a) {
  const SeqInputs& in = a.in;
  const int64_t T = in.s.T, B = in.s.B, D = in.s.D, H = in.s.H, G = 3, GH = G * H, TB = T * B;
  if (H <= 0 || B <= 0) return;  // every output is empty
  if (T <= 0) {
    seq::copy_or_zero(a.h_n, a.h0, B * H);
    return;
  }
  const CellKernels& ck = kernels().cell;
  const bool after = a.reset_after;
  const bool keep = a.cache != nullptr;  // null: inference, nothing kept for backward
  // Workspace (thread arena): bias [3H], h double buffer [2, B, H], the step's recurrent product
  // [B, 3H], rh = r h_prev [B, H] (reset_before's n-gate operand); for inference also the input
  // projection / activated gates [T*B, 3H] (the cache's gates block otherwise) and the hn rows
  // [B, H] (written by the row kernels, read by nothing).
  float *bias, *hbuf, *gh, *rh, *gates = a.cache, *hn_row = nullptr;
  seq::Workspace ws;
  ws.add(&bias, GH);
  ws.add(&hbuf, 2 * B * H);
  ws.add(&gh, B * GH);
  ws.add(&rh, B * H);
  if (!keep) {
    ws.add(&gates, TB * GH);
    ws.add(&hn_row, B * H);
  }
  ws.take();
  // Cache blocks: [gates 3H | hPrev H | hn H], each [T, B, width].
  float* hprev = keep ? gates + TB * GH : nullptr;
  float* hnc = keep ? hprev + TB * H : nullptr;
  seq::gemm(false, true, TB, GH, D, in.x, D, in.w_ih, D, gates, GH, false);
  seq::zero_masked_rows(in, a.y, H);
  if (keep) {
    seq::zero_masked_rows(in, gates, GH);
    for (float* blk : {hprev, hnc}) seq::zero_masked_rows(in, blk, H);
  }

  // reset_after keeps b_hn inside r (.); reset_before folds it into gate n's input bias.
  seq::fold_bias(in, G, after ? 2 : 3, bias);
  const float* b_hn = after && in.b_hh ? in.b_hh + 2 * H : nullptr;
  seq::copy_or_zero(hbuf, a.h0, B * H);
  memset(rh, 0, sizeof(float) * B * H);  // rows of finished sequences still enter the product
  const int64_t S = seq::num_steps(in), P = gemm_panel_width();
  const bool in_place = seq::recurrent_in_place(S, B);  // few steps: W_hh unpacked

  parallel(seq::loop_threads(B, G, H, P), [&](const Team& team) {
    int64_t u0, u1;
    split_range(H, P, team.tid, team.size, &u0, &u1);
    const int64_t w = u1 - u0;
    // reset_after: pk all 3 gates; reset_before: pk gates r z, pkn gate n (null: W_hh in place)
    PackedB* pk = in_place ? nullptr : &seq::thread_pack(0);
    PackedB* pkn = in_place || after ? nullptr : &seq::thread_pack(1);
    if (w > 0 && pk) {
      seq::pack_unit_slice(in.w_hh, H, 0, after ? 3 : 2, u0, u1, seq::thread_scratch(), pk);
      if (pkn) seq::pack_unit_slice(in.w_hh, H, 2, 3, u0, u1, seq::thread_scratch(), pkn);
    }
    float* ghs = gh + G * u0;  // this thread's [B, 3*w] slice, gate stride w
    for (int64_t s = 0; s < S; s++) {
      const float* hc = hbuf + (s & 1) * B * H;
      float* hn = hbuf + ((s + 1) & 1) * B * H;
      if (after) {
        if (w > 0) {
          seq::recurrent_product(B, H, hc, H, in.w_hh, 0, 3, u0, u1, pk, ghs, GH);
          for (int64_t b = 0; b < B; b++) {
            const int64_t t = seq::time_at(in, b, s);
            float* hnb = hn + b * H + u0;
            const float* hcb = hc + b * H + u0;
            if (t < 0) {
              memcpy(hnb, hcb, sizeof(float) * w);
              continue;
            }
            const int64_t row = t * B + b, o = row * H + u0;
            float* grow = gates + row * GH + u0;
            float* hnr = hn_row ? hn_row + b * H + u0 : hnc + o;
            if (keep) memcpy(hprev + o, hcb, sizeof(float) * w);
            ck.gru_forward_row(w, grow, bias + u0, H, ghs + b * GH, w, b_hn ? b_hn + u0 : nullptr,
                               hcb, grow, hnr, hnb);
            memcpy(a.y + o, hnb, sizeof(float) * w);
          }
        }
        team.barrier();
        continue;
      }
      // reset_before, phase 1: r, z and rh = r h_prev of this thread's units.
      if (w > 0) {
        seq::recurrent_product(B, H, hc, H, in.w_hh, 0, 2, u0, u1, pk, ghs, GH);
        for (int64_t b = 0; b < B; b++) {
          const int64_t t = seq::time_at(in, b, s);
          if (t < 0) continue;
          const int64_t row = t * B + b, o = row * H + u0;
          float* grow = gates + row * GH + u0;
          const float* hcb = hc + b * H + u0;
          float* hnr = hn_row ? hn_row + b * H + u0 : hnc + o;
          if (keep) memcpy(hprev + o, hcb, sizeof(float) * w);
          ck.gru_forward_rz_row(w, grow, bias + u0, H, ghs + b * GH, w, hcb, grow, hnr,
                                rh + b * H + u0);
        }
      }
      team.barrier();  // every unit's rh is ready
      // phase 2: n = tanh(x_n + W_hn rh + b), h.
      if (w > 0) {
        seq::recurrent_product(B, H, rh, H, in.w_hh, 2, 3, u0, u1, pkn, ghs + 2 * w, GH);
        for (int64_t b = 0; b < B; b++) {
          const int64_t t = seq::time_at(in, b, s);
          float* hnb = hn + b * H + u0;
          const float* hcb = hc + b * H + u0;
          if (t < 0) {
            memcpy(hnb, hcb, sizeof(float) * w);
            continue;
          }
          const int64_t row = t * B + b, o = row * H + u0;
          float* grow = gates + row * GH + u0;
          ck.gru_forward_n_row(w, grow + 2 * H, bias + 2 * H + u0, ghs + b * GH + 2 * w, grow + H,
                               hcb, grow + 2 * H, hnb);
          memcpy(a.y + o, hnb, sizeof(float) * w);
        }
      }
      team.barrier();  // h ready for the next product; rh free to be overwritten
    }
  });
  memcpy(a.h_n, hbuf + (S & 1) * B * H, sizeof(float) * B * H);
}

void gru_backward(const GruBackwardArgs& a) {
  const SeqInputs& in = a.in;
  const SeqGrads& g = a.g;
  const int64_t T = in.s.T, B = in.s.B, D = in.s.D, H = in.s.H, G = 3, GH = G * H, TB = T * B;
  if (seq::backward_trivial(in, g, G, a.dh_n)) return;
  const CellKernels& ck = kernels().cell;
  const bool after = a.reset_after;
  const float* gates = a.cache;
  const float* hprev = gates + TB * GH;
  const float* hnc = hprev + TB * H;

  // dG [T*B, 3H] input side; dGhn [T*B, H] = r dn_pre, the hidden side of gate n (reset_after only).
  // Workspace (thread arena): also dA [2, B, 3H] (double-buffered hidden-side dG of a step), dh and
  // drh = d(r h_prev) [B, H].
  float *dG, *dGhn = nullptr, *dA, *dh, *drh;
  seq::Workspace ws;
  ws.add(&dG, TB * GH);
  if (after) ws.add(&dGhn, TB * H);
  ws.add(&dA, 2 * B * GH);
  ws.add(&dh, B * H);
  ws.add(&drh, B * H);
  ws.take();
  seq::zero_masked_rows(in, dG, GH);
  if (after) seq::zero_masked_rows(in, dGhn, H);
  seq::copy_or_zero(dh, a.dh_n, B * H);
  // reset_after: pk = W_hh [3H, H]; reset_before: pk = W_h{r,z} [2H, H], pkn = W_hn [H, H].
  PackedB& pk = seq::thread_pack(0);
  PackedB& pkn = seq::thread_pack(1);
  if (after) {
    pack_b(false, GH, H, in.w_hh, H, &pk);
  } else {
    pack_b(false, 2 * H, H, in.w_hh, H, &pk);
    pack_b(false, H, H, in.w_hh + 2 * H * H, H, &pkn);
  }
  const int64_t S = seq::num_steps(in), P = gemm_panel_width();

  parallel(seq::loop_threads(B, G, H, P), [&](const Team& team) {
    int64_t u0, u1;
    split_range(H, P, team.tid, team.size, &u0, &u1);
    const int64_t w = u1 - u0;
    for (int64_t k = 0; k < S; k++) {
      const int64_t s = S - 1 - k;
      float* da = dA + (k & 1) * B * GH;  // [B, 3H] hidden-side gradients of this step
      for (int64_t b = 0; b < B && w > 0; b++) {
        const int64_t t = seq::time_at(in, b, s);
        if (t < 0) {
          for (int64_t q = 0; q < G; q++) memset(da + b * GH + q * H + u0, 0, sizeof(float) * w);
          continue;
        }
        const int64_t row = t * B + b, o = row * H + u0;
        float* dab = da + b * GH + u0;
        const float* dyo = a.dy ? a.dy + o : nullptr;
        if (after) {
          ck.gru_backward_row(w, dh + b * H + u0, dyo, gates + row * GH + u0, H, hprev + o,
                              hnc + o, dG + row * GH + u0, dab);
          memcpy(dGhn + o, dab + 2 * H, sizeof(float) * w);
        } else {
          ck.gru_backward_zn_row(w, dh + b * H + u0, dyo, gates + row * GH + u0, H,
                                 hprev + o, dG + row * GH + u0, dab);
        }
      }
      team.barrier();
      if (after) {
        if (w > 0) sgemm_packed(B, u0, u1, da, GH, pk, dh, H, true);
        continue;
      }
      // reset_before: drh = dn_pre W_hn, then dr_pre and dh += drh r for this thread's units.
      if (w > 0) {
        sgemm_packed(B, u0, u1, da + 2 * H, GH, pkn, drh, H, false);
        for (int64_t b = 0; b < B; b++) {
          const int64_t t = seq::time_at(in, b, s);
          if (t < 0) continue;  // da's r columns were zeroed above
          const int64_t row = t * B + b, o = row * H + u0;
          ck.gru_backward_r_row(w, drh + b * H + u0, gates + row * GH + u0, hprev + o,
                                dh + b * H + u0, dG + row * GH + u0, da + b * GH + u0);
        }
      }
      team.barrier();  // every unit's dr_pre is ready
      if (w > 0) sgemm_packed(B, u0, u1, da, GH, pk, dh, H, true);
    }
  });
  memcpy(g.dh0, dh, sizeof(float) * B * H);

  const float* dg = dG;
  seq::gemm(true, false, GH, D, TB, dg, GH, in.x, D, g.dw_ih, D, false);
  seq::gemm(false, false, TB, D, GH, dg, GH, in.w_ih, D, g.dx, D, false);
  seq::gemm(true, false, 2 * H, H, TB, dg, GH, hprev, H, g.dw_hh, H, false);
  if (after)
    seq::gemm(true, false, H, H, TB, dGhn, H, hprev, H, g.dw_hh + 2 * H * H, H, false);
  else
    seq::gemm(true, false, H, H, TB, dg + 2 * H, GH, hnc, H, g.dw_hh + 2 * H * H, H, false);
  if (g.db_ih) seq::col_sum(TB, GH, dg, GH, g.db_ih);
  if (g.db_hh) {
    if (g.db_ih)
      memcpy(g.db_hh, g.db_ih, sizeof(float) * 2 * H);
    else
      seq::col_sum(TB, 2 * H, dg, GH, g.db_hh);
    if (after)
      seq::col_sum(TB, H, dGhn, H, g.db_hh + 2 * H);
    else if (g.db_ih)
      memcpy(g.db_hh + 2 * H, g.db_ih + 2 * H, sizeof(float) * H);
    else
      seq::col_sum(TB, H, dg + 2 * H, GH, g.db_hh + 2 * H);
  }
}

}  // namespace gated
