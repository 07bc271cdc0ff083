// gru_reset_before.cc: the GRU with the reset gate applied before the recurrent product (Cho et al.,
// ONNX's default): n = tanh(x_n + b_in + W_hn (r ⊙ h_prev) + b_hn). Math, cache layout and masking:
// cells.h. The n-gate product needs r of every unit, so each step has two phases with a barrier
// between: forward, (1) the r, z product and rh = r ⊙ h_prev of each thread's units, (2) the n-gate
// product of rh and the new h; backward, (1) the z, n gradients, (2) drh = dn_pre W_hn and the r
// gradients, then dh_prev.
//
// Gradients (the common part: gru.h). With hn = r ⊙ h_prev (cached):
//   drh = dn_pre W_hn, dr_pre = drh h_prev r (1 - r)
//   dh_prev = dh z + drh r + [dr_pre, dz_pre] W_h{r,z}
//   dW_hn = dn_pre^T hn,  db_hh = db_ih = column sums of dG
#include <string.h>

#include "gru.h"
#include "seq_common.h"

namespace gated {
namespace gru {

void reset_before_forward(const GruForwardArgs& a) {
  const SeqInputs& in = a.in;
  const int64_t B = in.s.B, H = in.s.H, G = kGruGates, GH = G * H;
  const CellKernels& ck = kernels().cell;
  const ForwardSetup st(a);

  // th.pk[0]: the rows of gates r, z; th.pk[1]: gate n.
  const float* h_n = seq::forward_loop(
      in, G, 2, st.gates, st.hbuf, [&](const seq::LoopThread& th, int64_t s, const float* hc, float* hn) {
        const int64_t u0 = th.u0, w = th.w;
        float* ghs = st.gh + G * u0;  // this thread's [B, 3*w] slice, gate stride w
        // phase 1: r, z and rh = r h_prev of this thread's units.
        if (w > 0) {
          seq::recurrent_product(B, H, hc, H, in.w_hh, 0, 2, u0, th.u1, th.pk[0], ghs, GH);
          for (int64_t b = 0; b < B; b++) {
            const int64_t t = seq::time_at(in, b, s);
            if (t < 0) continue;
            const int64_t r = t * B + b, o = r * H + u0;
            float* grow = st.gates + r * GH + u0;
            const float* hcb = hc + b * H + u0;
            if (st.cache.h_prev) memcpy(st.cache.h_prev + o, hcb, sizeof(float) * w);
            ck.gru_forward_rz_row(w, grow, st.bias + u0, H, ghs + b * GH, w, hcb, grow, st.hn_row(r, b, u0),
                                  st.rh + b * H + u0);
          }
        }
        th.team.barrier();  // every unit's rh is ready
        // phase 2: n = tanh(x_n + W_hn rh + b), h. (The loop's barrier after it: h ready for the next
        // product, rh free to be overwritten.)
        if (w <= 0) return;
        seq::recurrent_product(B, H, st.rh, H, in.w_hh, 2, 3, u0, th.u1, th.pk[1], ghs + 2 * w, GH);
        seq::step_rows(in, th, s, hc, hn, [&](int64_t b, int64_t r, const float* hcb, float* hnb) {
          float* grow = st.gates + r * GH + u0;
          ck.gru_forward_n_row(w, grow + 2 * H, st.bias + 2 * H + u0, ghs + b * GH + 2 * w, grow + H, hcb,
                               grow + 2 * H, hnb);
          memcpy(a.y + r * H + u0, hnb, sizeof(float) * w);
        });
      });
  memcpy(a.h_n, h_n, sizeof(float) * B * H);
}

void reset_before_backward(const GruBackwardArgs& a) {
  const SeqInputs& in = a.in;
  const SeqGrads& g = a.g;
  const int64_t T = in.s.T, B = in.s.B, H = in.s.H, G = kGruGates, GH = G * H, TB = T * B;
  const CellKernels& ck = kernels().cell;
  const GruCacheView<> cache(a.cache, T, B, H);
  // drh [B, H] = d(r h_prev), the n-gate product's output gradient of a step.
  const BackwardSetup w(a, false);
  float* drh = w.extra;
  PackedB& pk = seq::thread_pack(0);   // W_h{r,z} [2H, H]
  PackedB& pkn = seq::thread_pack(1);  // W_hn [H, H]
  pack_b(false, 2 * H, H, in.w_hh, H, &pk);
  pack_b(false, H, H, in.w_hh + 2 * H * H, H, &pkn);

  seq::backward_loop(
      in, G, w.dA,
      [&](const seq::LoopThread& th, int64_t b, int64_t r, float* dab) {
        const int64_t u0 = th.u0, o = r * H + u0;
        ck.gru_backward_zn_row(th.w, w.dh + b * H + u0, a.dy ? a.dy + o : nullptr, cache.gates + r * GH + u0,
                               H, cache.h_prev + o, w.dG + r * GH + u0, dab);
      },
      [&](const seq::LoopThread& th, int64_t s, float* da) {
        const int64_t u0 = th.u0;
        if (th.w > 0) {  // drh = dn_pre W_hn, then dr_pre and dh += drh r for this thread's units
          sgemm_packed(B, u0, th.u1, da + 2 * H, GH, pkn, drh, H, false);
          for (int64_t b = 0; b < B; b++) {
            const int64_t t = seq::time_at(in, b, s);
            if (t < 0) continue;  // da's r columns are zero there
            const int64_t r = t * B + b, o = r * H + u0;
            ck.gru_backward_r_row(th.w, drh + b * H + u0, cache.gates + r * GH + u0, cache.h_prev + o,
                                  w.dh + b * H + u0, w.dG + r * GH + u0, da + b * GH + u0);
          }
        }
        th.team.barrier();  // every unit's dr_pre is ready
        if (th.w > 0) sgemm_packed(B, u0, th.u1, da, GH, pk, w.dh, H, true);
      });

  backward_finish(a, w);
  seq::gemm(true, false, H, H, TB, w.dG + 2 * H, GH, cache.hn, H, g.dw_hh + 2 * H * H, H, false);
  seq::bias_grads(in, g, G, w.dG);
}

}  // namespace gru
}  // namespace gated
