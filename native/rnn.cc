// rnn.cc: whole-sequence simple RNN (tanh / relu) forward and backward (BPTT). Math, cache layout and
// masking: cells.h. Same structure as lstm.cc (see its header comment) with one gate.
#include <string.h>

#include <vector>

#include "cells.h"
#include "seq_common.h"

namespace gated {

void rnn_forward(const RnnForwardArgs& a) {
  const SeqInputs& in = a.in;
  const int64_t T = in.s.T, B = in.s.B, D = in.s.D, H = in.s.H, TB = T * B;
  if (H <= 0 || B <= 0) return;  // every output is empty
  if (T <= 0) {
    seq::copy_or_zero(a.h_n, a.h0, B * H);
    return;
  }
  const CellKernels& ck = kernels().cell;
  const int act = (int)a.act;
  // Cache blocks: [hPrev H | hNew H], each [T, B, H]; none for inference (cache == nullptr). y is
  // the input projection's scratch until each row is overwritten by its h (masked rows are zeroed).
  const bool keep = a.cache != nullptr;
  float* hprev = a.cache;
  float* hnew = keep ? hprev + TB * H : nullptr;
  float* gx = a.y;
  seq::gemm(false, true, TB, H, D, in.x, D, in.w_ih, D, gx, H, false);
  seq::zero_masked_rows(in, a.y, H);
  if (keep)
    for (float* blk : {hprev, hnew}) seq::zero_masked_rows(in, blk, H);

  // Workspace (thread arena): bias [H], h double buffer [2, B, H], the step's product [B, H].
  float *bias, *hbuf, *gh;
  seq::Workspace ws;
  ws.add(&bias, H);
  ws.add(&hbuf, 2 * B * H);
  ws.add(&gh, B * H);
  ws.take();
  seq::fold_bias(in, 1, 1, bias);
  seq::copy_or_zero(hbuf, a.h0, B * H);
  const int64_t S = seq::num_steps(in), P = gemm_panel_width();
  const bool in_place = seq::recurrent_in_place(S, B);  // few steps: W_hh unpacked

  parallel(seq::loop_threads(B, 1, H, P), [&](const Team& team) {
    int64_t u0, u1;
    split_range(H, P, team.tid, team.size, &u0, &u1);
    const int64_t w = u1 - u0;
    PackedB* pk = in_place ? nullptr : &seq::thread_pack(0);
    if (w > 0 && pk) seq::pack_unit_slice(in.w_hh, H, 0, 1, u0, u1, seq::thread_scratch(), pk);
    for (int64_t s = 0; s < S; s++) {
      const float* hc = hbuf + (s & 1) * B * H;
      float* hn = hbuf + ((s + 1) & 1) * B * H;
      if (w > 0) {
        float* ghs = gh + u0;
        seq::recurrent_product(B, H, hc, H, in.w_hh, 0, 1, u0, u1, pk, ghs, H);
        for (int64_t b = 0; b < B; b++) {
          const int64_t t = seq::time_at(in, b, s);
          float* hnb = hn + b * H + u0;
          const float* hcb = hc + b * H + u0;
          if (t < 0) {
            memcpy(hnb, hcb, sizeof(float) * w);
            continue;
          }
          const int64_t o = (t * B + b) * H + u0;
          if (keep) memcpy(hprev + o, hcb, sizeof(float) * w);
          ck.rnn_forward_row(w, gx + o, bias + u0, ghs + b * H, act, hnb);
          if (keep) memcpy(hnew + o, hnb, sizeof(float) * w);
          memcpy(a.y + o, hnb, sizeof(float) * w);
        }
      }
      team.barrier();
    }
  });
  memcpy(a.h_n, hbuf + (S & 1) * B * H, sizeof(float) * B * H);
}

void rnn_backward(const RnnBackwardArgs& a) {
  const SeqInputs& in = a.in;
  const SeqGrads& g = a.g;
  const int64_t T = in.s.T, B = in.s.B, H = in.s.H, TB = T * B;
  if (seq::backward_trivial(in, g, 1, a.dh_n)) return;
  const CellKernels& ck = kernels().cell;
  const int act = (int)a.act;
  const float* hprev = a.cache;
  const float* hnew = hprev + TB * H;

  // Workspace (thread arena): dG [T*B, H] (masked rows zeroed), dA [2, B, H] (double-buffered
  // hidden-side dG of a step), dh [B, H].
  float *dG, *dA, *dh;
  seq::Workspace ws;
  ws.add(&dG, TB * H);
  ws.add(&dA, 2 * B * H);
  ws.add(&dh, B * H);
  ws.take();
  seq::zero_masked_rows(in, dG, H);
  seq::copy_or_zero(dh, a.dh_n, B * H);
  PackedB& pk = seq::thread_pack(0);
  pack_b(false, H, H, in.w_hh, H, &pk);
  const int64_t S = seq::num_steps(in), P = gemm_panel_width();

  parallel(seq::loop_threads(B, 1, H, P), [&](const Team& team) {
    int64_t u0, u1;
    split_range(H, P, team.tid, team.size, &u0, &u1);
    const int64_t w = u1 - u0;
    for (int64_t k = 0; k < S; k++) {
      const int64_t s = S - 1 - k;
      float* da = dA + (k & 1) * B * H;
      for (int64_t b = 0; b < B && w > 0; b++) {
        const int64_t t = seq::time_at(in, b, s);
        if (t < 0) {
          memset(da + b * H + u0, 0, sizeof(float) * w);
          continue;
        }
        const int64_t o = (t * B + b) * H + u0;
        ck.rnn_backward_row(w, dh + b * H + u0, a.dy ? a.dy + o : nullptr, hnew + o, act,
                            dG + o, da + b * H + u0);
      }
      team.barrier();
      if (w > 0) sgemm_packed(B, u0, u1, da, H, pk, dh, H, true);
    }
  });
  memcpy(g.dh0, dh, sizeof(float) * B * H);

  seq::weight_grads(in, g, 1, dG, hprev);
}

}  // namespace gated
