// rnn.cc: whole-sequence simple RNN (tanh / relu) forward and backward (BPTT). Math, cache layout and
// masking: cells.h. Same structure as lstm.cc (see its header comment) with one gate.
#include <string.h>

#include "cells.h"
#include "seq_common.h"

namespace gated {

void rnn_forward(const RnnForwardArgs& a) {
  const SeqInputs& in = a.in;
  const int64_t T = in.s.T, B = in.s.B, H = in.s.H;
  if (T <= 0 || B <= 0 || H <= 0) {  // no step (h_n = h0), or every output empty
    seq::copy_or_zero(a.h_n, a.h0, B * H);
    return;
  }
  const CellKernels& ck = kernels().cell;
  const int act = (int)a.act;
  // Null blocks for inference (cache == nullptr). y is the input projection's scratch until each row
  // is overwritten by its h (forward_loop zeroes the masked rows).
  const bool keep = a.cache != nullptr;
  const RnnCacheView<float> cache(a.cache, T, B, H);
  float* gx = a.y;
  seq::zero_masked_rows(in, cache.blocks);

  // Workspace (thread arena): bias [H], h double buffer [2, B, H], the step's product [B, H].
  float *bias, *hbuf, *gh;
  seq::Workspace ws;
  ws.add(&bias, H);
  ws.add(&hbuf, 2 * B * H);
  ws.add(&gh, B * H);
  ws.take();
  seq::fold_bias(in, kRnnGates, kRnnGates, bias);
  seq::copy_or_zero(hbuf, a.h0, B * H);

  const float* h_n = seq::forward_loop(
      in, kRnnGates, kRnnGates, gx, hbuf,
      [&](const seq::LoopThread& th, int64_t s, const float* hc, float* hn) {
        if (th.w <= 0) return;
        const int64_t u0 = th.u0, w = th.w;
        float* ghs = gh + u0;
        seq::recurrent_product(B, H, hc, H, in.w_hh, 0, kRnnGates, u0, th.u1, th.pk[0], ghs, H);
        seq::step_rows(in, th, s, hc, hn, [&](int64_t b, int64_t r, const float* hcb, float* hnb) {
          const int64_t o = r * H + u0;
          if (keep) memcpy(cache.h_prev + o, hcb, sizeof(float) * w);
          ck.rnn_forward_row(w, gx + o, bias + u0, ghs + b * H, act, hnb);
          if (keep) memcpy(cache.h + o, hnb, sizeof(float) * w);
          memcpy(a.y + o, hnb, sizeof(float) * w);
        });
      });
  memcpy(a.h_n, h_n, sizeof(float) * B * H);
}

void rnn_backward(const RnnBackwardArgs& a) {
  const SeqInputs& in = a.in;
  const SeqGrads& g = a.g;
  const int64_t T = in.s.T, B = in.s.B, H = in.s.H, TB = T * B;
  if (seq::backward_trivial(in, g, kRnnGates, a.dh_n)) return;
  const CellKernels& ck = kernels().cell;
  const int act = (int)a.act;
  const RnnCacheView<> cache(a.cache, T, B, H);

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

  seq::backward_loop(
      in, kRnnGates, dA,
      [&](const seq::LoopThread& th, int64_t b, int64_t r, float* dab) {
        const int64_t o = r * H + th.u0;
        ck.rnn_backward_row(th.w, dh + b * H + th.u0, a.dy ? a.dy + o : nullptr, cache.h + o, act, dG + o,
                            dab);
      },
      [&](const seq::LoopThread& th, int64_t, float* da) {
        if (th.w > 0) sgemm_packed(B, th.u0, th.u1, da, H, pk, dh, H, true);
      });
  memcpy(g.dh0, dh, sizeof(float) * B * H);

  seq::weight_grads(in, g, kRnnGates, dG, cache.h_prev);
}

}  // namespace gated
