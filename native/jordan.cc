// jordan.cc: whole-sequence Jordan network forward and backward (BPTT). Math, cache layout,
// masking, structure and threading: jordan.h.
#include "jordan.h"

#include <string.h>

#include "seq_common.h"

namespace gated {
namespace {

// Threads for a time loop over H units and O outputs in grains of the panel width. A step has two
// phases, each a [B, H] x [H, O]-sized product ended by a barrier: each must pay for its barrier.
int jordan_threads(const JordanShape& s, int64_t P) {
  const int64_t gh = (s.H + P - 1) / P, go = (s.O + P - 1) / P;
  return seq::step_threads(gh > go ? gh : go, s.B * s.H * s.O);
}

// One thread's shares of the units and of the outputs.
struct JordanThread {
  int64_t u0, u1, wh;  // hidden units [u0, u1)
  int64_t o0, o1, wo;  // outputs [o0, o1)
  JordanThread(const Team& team, const JordanShape& s, int64_t P) {
    split_range(s.H, P, team.tid, team.size, &u0, &u1);
    split_range(s.O, P, team.tid, team.size, &o0, &o1);
    wh = u1 - u0;
    wo = o1 - o0;
  }
};

}  // namespace

void jordan_forward(const JordanForwardArgs& a) {
  const JordanInputs& in = a.in;
  const int64_t T = in.s.T, B = in.s.B, D = in.s.D, H = in.s.H, O = in.s.O, TB = T * B;
  if (B <= 0) return;
  const CellKernels& ck = kernels().cell;
  const JordanCacheView<float> cache(a.cache, in.s);

  // Workspace: gx [T*B, H], bias [H], yr [B, O] (fed-back output), gh [B, H], hs [B, H], zo [B, O].
  float *gx, *bias, *yr, *gh, *hs, *zo;
  seq::Workspace ws;
  ws.add(&gx, TB * H);
  ws.add(&bias, H);
  ws.add(&yr, B * O);
  ws.add(&gh, B * H);
  ws.add(&hs, B * H);
  ws.add(&zo, B * O);
  ws.take();
  seq::copy_or_zero(yr, a.y0, B * O);
  if (T <= 0 || H + O == 0) {
    if (B * O > 0) memcpy(a.y_n, yr, sizeof(float) * B * O);
    return;
  }
  // Every row with a step is written whole below; the masked ones stay zero.
  seq::zero_masked_rows(in, a.y, O);
  if (a.h) seq::zero_masked_rows(in, a.h, H);
  seq::zero_masked_rows(in, cache.blocks);
  seq::gemm(false, true, TB, H, D, in.x, D, in.w_ih, D, gx, H, false);
  for (int64_t j = 0; j < H; j++) bias[j] = (in.b_ih ? in.b_ih[j] : 0.0f) + (in.b_hh ? in.b_hh[j] : 0.0f);
  if (B * H > 0) memset(hs, 0, sizeof(float) * B * H);  // rows of finished sequences still enter W_ho h

  const int64_t S = seq::num_steps(in), P = gemm_panel_width();
  const bool in_place = seq::recurrent_in_place(S, B);  // few steps: W_hy, W_ho unpacked
  parallel(jordan_threads(in.s, P), [&](const Team& team) {
    const JordanThread th(team, in.s, P);
    // Its rows of W_hy [H, O] and W_ho [O, H], each a one-gate "W_hh" with rows of O and H floats.
    PackedB* pk_hy = in_place || th.wh <= 0 ? nullptr : &seq::thread_pack(0);
    PackedB* pk_ho = in_place || th.wo <= 0 ? nullptr : &seq::thread_pack(1);
    if (pk_hy) seq::pack_unit_slice(in.w_hy, O, 0, 1, th.u0, th.u1, B, seq::thread_scratch(), pk_hy);
    if (pk_ho) seq::pack_unit_slice(in.w_ho, H, 0, 1, th.o0, th.o1, B, seq::thread_scratch(), pk_ho);
    for (int64_t s = 0; s < S; s++) {
      // Hidden units: gh = y_prev W_hy^T, h = act(gx + bias + gh).
      if (th.wh > 0) {
        seq::recurrent_product(B, O, yr, O, in.w_hy, 0, 1, th.u0, th.u1, pk_hy, gh + th.u0, H);
        for (int64_t b = 0; b < B; b++) {
          const int64_t t = seq::time_at(in, b, s);
          if (t < 0) continue;
          const int64_t o = (t * B + b) * H + th.u0;
          float* hb = hs + b * H + th.u0;
          ck.rnn_forward_row(th.wh, gx + o, bias + th.u0, gh + b * H + th.u0, in.act, hb);
          if (cache.h) memcpy(cache.h + o, hb, sizeof(float) * th.wh);
          if (a.h) memcpy(a.h + o, hb, sizeof(float) * th.wh);
        }
      }
      team.barrier();  // every unit of h is ready; every thread is done reading y_prev
      // Outputs: zo = h W_ho^T, y = act_out(zo + b_ho), fed back through yr.
      if (th.wo > 0) {
        seq::recurrent_product(B, H, hs, H, in.w_ho, 0, 1, th.o0, th.o1, pk_ho, zo + th.o0, O);
        for (int64_t b = 0; b < B; b++) {
          const int64_t t = seq::time_at(in, b, s);
          if (t < 0) continue;  // finished: the fed-back output is carried
          const int64_t o = (t * B + b) * O + th.o0;
          float* yb = yr + b * O + th.o0;
          if (cache.y_prev) memcpy(cache.y_prev + o, yb, sizeof(float) * th.wo);
          ck.jordan_output_row(th.wo, zo + b * O + th.o0, in.b_ho ? in.b_ho + th.o0 : nullptr,
                               (int)in.act_out, yb);
          memcpy(a.y + o, yb, sizeof(float) * th.wo);
          if (cache.y) memcpy(cache.y + o, yb, sizeof(float) * th.wo);
        }
      }
      team.barrier();  // y ready for the next step's product
    }
  });
  if (B * O > 0) memcpy(a.y_n, yr, sizeof(float) * B * O);
}

void jordan_backward(const JordanBackwardArgs& a) {
  const JordanInputs& in = a.in;
  const int64_t T = in.s.T, B = in.s.B, D = in.s.D, H = in.s.H, O = in.s.O, TB = T * B;
  const CellKernels& ck = kernels().cell;
  const JordanCacheView<> cache(a.cache, in.s);

  // Workspace: dZh [T*B, H], dZo [T*B, O] (masked rows zero), dyr [B, O] (gradient of the fed-back
  // output), dzo/dzh step rows [B, O] / [B, H] (zero for finished sequences), dh [B, H], dyp [B, O].
  float *dZh, *dZo, *dyr, *dzo, *dzh, *dh, *dyp;
  seq::Workspace ws;
  ws.add(&dZh, TB * H);
  ws.add(&dZo, TB * O);
  ws.add(&dyr, B * O);
  ws.add(&dzo, B * O);
  ws.add(&dzh, B * H);
  ws.add(&dh, B * H);
  ws.add(&dyp, B * O);
  ws.take();
  seq::zero_masked_rows(in, dZh, H);
  seq::zero_masked_rows(in, dZo, O);
  seq::copy_or_zero(dyr, a.dy_n, B * O);
  PackedB& pk_ho = seq::thread_pack(0);  // op(B) = W_ho [O, H]: dh = dzo W_ho
  PackedB& pk_hy = seq::thread_pack(1);  // op(B) = W_hy [H, O]: dy_prev = dzh W_hy
  pack_b(false, O, H, in.w_ho, H, &pk_ho);
  pack_b(false, H, O, in.w_hy, O, &pk_hy);

  const int64_t S = TB > 0 ? seq::num_steps(in) : 0, P = gemm_panel_width();
  parallel(jordan_threads(in.s, P), [&](const Team& team) {
    const JordanThread th(team, in.s, P);
    for (int64_t s = S - 1; s >= 0; s--) {
      // Outputs: dzo = (dy_fed + dy) act_out'(y). Reads only this thread's columns of dyr, which it
      // wrote itself at the end of the previous step: no barrier needed before.
      for (int64_t b = 0; b < B && th.wo > 0; b++) {
        const int64_t t = seq::time_at(in, b, s);
        float* dzb = dzo + b * O + th.o0;
        if (t < 0) {
          memset(dzb, 0, sizeof(float) * th.wo);
          continue;
        }
        const int64_t o = (t * B + b) * O + th.o0;
        ck.jordan_output_backward_row(th.wo, dyr + b * O + th.o0, a.dy ? a.dy + o : nullptr, cache.y + o,
                                      (int)in.act_out, dzb);
        memcpy(dZo + o, dzb, sizeof(float) * th.wo);
      }
      team.barrier();  // every output's dzo is ready
      // Hidden units: dh = dzo W_ho, dzh = dh act'(h).
      if (th.wh > 0) {
        sgemm_packed(B, th.u0, th.u1, dzo, O, pk_ho, dh, H, false);
        for (int64_t b = 0; b < B; b++) {
          const int64_t t = seq::time_at(in, b, s);
          float* dzb = dzh + b * H + th.u0;
          if (t < 0) {
            memset(dzb, 0, sizeof(float) * th.wh);
            continue;
          }
          const int64_t o = (t * B + b) * H + th.u0;
          ck.rnn_backward_row(th.wh, dh + b * H + th.u0, nullptr, cache.h + o, in.act, dZh + o, dzb);
        }
      }
      team.barrier();  // every unit's dzh is ready
      // Outputs: the fed-back gradient dy_prev = dzh W_hy (finished sequences pass theirs unchanged).
      if (th.wo > 0) {
        sgemm_packed(B, th.o0, th.o1, dzh, H, pk_hy, dyp, O, false);
        for (int64_t b = 0; b < B; b++)
          if (seq::time_at(in, b, s) >= 0)
            memcpy(dyr + b * O + th.o0, dyp + b * O + th.o0, sizeof(float) * th.wo);
      }
    }
  });
  if (B * O > 0) memcpy(a.dy0, dyr, sizeof(float) * B * O);

  seq::gemm(true, false, H, D, TB, dZh, H, in.x, D, a.dw_ih, D, false);
  seq::gemm(true, false, H, O, TB, dZh, H, cache.y_prev, O, a.dw_hy, O, false);
  seq::gemm(true, false, O, H, TB, dZo, O, cache.h, H, a.dw_ho, H, false);
  seq::gemm(false, false, TB, D, H, dZh, H, in.w_ih, D, a.dx, D, false);
  float* db_h = a.db_ih ? a.db_ih : a.db_hh;  // both are the column sums of dZh
  if (db_h) seq::col_sum(TB, H, dZh, H, db_h);
  if (a.db_ih && a.db_hh) memcpy(a.db_hh, a.db_ih, sizeof(float) * H);
  if (a.db_ho) seq::col_sum(TB, O, dZo, O, a.db_ho);
}

}  // namespace gated
