// gru_reset_after.cc: the GRU with the reset gate applied after the recurrent product (PyTorch,
// cuDNN): n = tanh(x_n + b_in + r ⊙ (W_hn h_prev + b_hn)). Math, cache layout and masking: cells.h;
// the structure is lstm.cc's (one recurrent product of all 3 gates and one barrier per step).
//
// Gradients (the common part: gru.h). With hn = W_hn h_prev + b_hn (cached):
//   the input side of gate n (W_in, b_in, x) gets dn_pre; the hidden side (W_hn, b_hn, and h_prev
//   through W_hn) gets r dn_pre; dr_pre = dn_pre hn r (1 - r).
//   dh_prev = dh z + [dr_pre, dz_pre, r dn_pre] W_hh
//   dW_hn = (r dn_pre)^T H_prev,  db_hh = column sums of [dr_pre, dz_pre, r dn_pre]
#include <string.h>

#include "gru.h"
#include "seq_common.h"

namespace gated {
namespace gru {

void reset_after_forward(const GruForwardArgs& a) {
  const SeqInputs& in = a.in;
  const int64_t B = in.s.B, H = in.s.H, G = kGruGates, GH = G * H;
  const CellKernels& ck = kernels().cell;
  const ForwardSetup st(a);
  const float* b_hn = in.b_hh ? in.b_hh + 2 * H : nullptr;

  const float* h_n = seq::forward_loop(
      in, G, G, st.gates, st.hbuf, [&](const seq::LoopThread& th, int64_t s, const float* hc, float* hn) {
        if (th.w <= 0) return;
        const int64_t u0 = th.u0, w = th.w;
        float* ghs = st.gh + G * u0;  // this thread's [B, 3*w] slice, gate stride w
        seq::recurrent_product(B, H, hc, H, in.w_hh, 0, G, u0, th.u1, th.pk[0], ghs, GH);
        seq::step_rows(in, th, s, hc, hn, [&](int64_t b, int64_t r, const float* hcb, float* hnb) {
          const int64_t o = r * H + u0;
          float* grow = st.gates + r * GH + u0;
          if (st.cache.h_prev) memcpy(st.cache.h_prev + o, hcb, sizeof(float) * w);
          ck.gru_forward_row(w, grow, st.bias + u0, H, ghs + b * GH, w, b_hn ? b_hn + u0 : nullptr, hcb, grow,
                             st.hn_row(r, b, u0), hnb);
          memcpy(a.y + o, hnb, sizeof(float) * w);
        });
      });
  memcpy(a.h_n, h_n, sizeof(float) * B * H);
}

void reset_after_backward(const GruBackwardArgs& a) {
  const SeqInputs& in = a.in;
  const SeqGrads& g = a.g;
  const int64_t T = in.s.T, B = in.s.B, H = in.s.H, G = kGruGates, GH = G * H, TB = T * B;
  const CellKernels& ck = kernels().cell;
  const GruCacheView<> cache(a.cache, T, B, H);
  // dGhn [T*B, H] = r dn_pre, the hidden side of gate n (dG holds the input side).
  const BackwardSetup w(a, true);
  float* dGhn = w.extra;
  PackedB& pk = seq::thread_pack(0);  // W_hh [3H, H]
  pack_b(false, GH, H, in.w_hh, H, &pk);

  seq::backward_loop(
      in, G, w.dA,
      [&](const seq::LoopThread& th, int64_t b, int64_t r, float* dab) {
        const int64_t u0 = th.u0, o = r * H + u0;
        ck.gru_backward_row(th.w, w.dh + b * H + u0, a.dy ? a.dy + o : nullptr, cache.gates + r * GH + u0, H,
                            cache.h_prev + o, cache.hn + o, w.dG + r * GH + u0, dab);
        memcpy(dGhn + o, dab + 2 * H, sizeof(float) * th.w);
      },
      [&](const seq::LoopThread& th, int64_t, float* da) {
        if (th.w > 0) sgemm_packed(B, th.u0, th.u1, da, GH, pk, w.dh, H, true);
      });

  backward_finish(a, w);
  seq::gemm(true, false, H, H, TB, dGhn, H, cache.h_prev, H, g.dw_hh + 2 * H * H, H, false);
  if (g.db_ih) seq::col_sum(TB, GH, w.dG, GH, g.db_ih);
  if (g.db_hh) {
    if (g.db_ih)
      memcpy(g.db_hh, g.db_ih, sizeof(float) * 2 * H);
    else
      seq::col_sum(TB, 2 * H, w.dG, GH, g.db_hh);
    seq::col_sum(TB, H, dGhn, H, g.db_hh + 2 * H);
  }
}

}  // namespace gru
}  // namespace gated
