// jordan.cc: whole-sequence Jordan network forward and backward (BPTT). Math, cache layout,
// masking and threading: jordan.h.
#include "jordan.h"

#include <math.h>
#include <string.h>

#include "seq_common.h"

namespace gated {
namespace {

inline float act_h(float v, int act) {
  if (act == 1) return v > 0.0f ? v : 0.0f;
  return tanhf(v);
}
inline float dact_h(float h, int act) { return act == 1 ? (h > 0.0f ? 1.0f : 0.0f) : 1.0f - h * h; }
inline float act_o(float v, JordanOutActivation a) {
  if (a == JordanOutActivation::Tanh) return tanhf(v);
  if (a == JordanOutActivation::Sigmoid) return 1.0f / (1.0f + expf(-v));
  return v;
}
inline float dact_o(float y, JordanOutActivation a) {
  if (a == JordanOutActivation::Tanh) return 1.0f - y * y;
  if (a == JordanOutActivation::Sigmoid) return y * (1.0f - y);
  return 1.0f;
}
// out[j] = sum over rows r (increasing) of a[r*n + j].
void col_sums(int64_t rows, int64_t n, const float* a, float* out) {
  for (int64_t j = 0; j < n; j++) out[j] = 0.0f;
  for (int64_t r = 0; r < rows; r++)
    for (int64_t j = 0; j < n; j++) out[j] += a[r * n + j];
}

}  // namespace

void jordan_forward(const JordanForwardArgs& a) {
  const JordanInputs& in = a.in;
  const int64_t T = in.s.T, B = in.s.B, D = in.s.D, H = in.s.H, O = in.s.O, TB = T * B;
  if (B <= 0) return;
  // Masked rows of every [T, B, .] output stay zero: clear them all first.
  if (TB * O > 0) memset(a.y, 0, sizeof(float) * TB * O);
  if (a.h && TB * H > 0) memset(a.h, 0, sizeof(float) * TB * H);
  const bool keep = a.cache != nullptr;
  if (keep && TB > 0) memset(a.cache, 0, sizeof(float) * jordan_cache_size(in.s));
  float* c_yprev = a.cache;
  float* c_h = keep ? c_yprev + TB * O : nullptr;
  float* c_y = keep ? c_h + TB * H : nullptr;

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
  seq::gemm(false, true, TB, H, D, in.x, D, in.w_ih, D, gx, H, false);
  for (int64_t j = 0; j < H; j++) bias[j] = (in.b_ih ? in.b_ih[j] : 0.0f) + (in.b_hh ? in.b_hh[j] : 0.0f);
  if (B * H > 0) memset(hs, 0, sizeof(float) * B * H);

  const int64_t S = seq::num_steps(in);
  for (int64_t s = 0; s < S; s++) {
    seq::gemm(false, true, B, H, O, yr, O, in.w_hy, O, gh, H, false);  // gh = y_prev W_hy^T
    for (int64_t b = 0; b < B; b++) {
      const int64_t t = seq::time_at(in, b, s);
      if (t < 0) continue;
      const int64_t r = t * B + b;
      for (int64_t j = 0; j < H; j++) hs[b * H + j] = act_h(gx[r * H + j] + bias[j] + gh[b * H + j], in.act);
    }
    seq::gemm(false, true, B, O, H, hs, H, in.w_ho, H, zo, O, false);  // zo = h W_ho^T
    for (int64_t b = 0; b < B; b++) {
      const int64_t t = seq::time_at(in, b, s);
      if (t < 0) continue;
      const int64_t r = t * B + b;
      if (keep) {
        if (O > 0) memcpy(c_yprev + r * O, yr + b * O, sizeof(float) * O);
        if (H > 0) memcpy(c_h + r * H, hs + b * H, sizeof(float) * H);
      }
      if (a.h && H > 0) memcpy(a.h + r * H, hs + b * H, sizeof(float) * H);
      for (int64_t k = 0; k < O; k++) {
        const float v = act_o(zo[b * O + k] + (in.b_ho ? in.b_ho[k] : 0.0f), in.act_out);
        yr[b * O + k] = v;
        a.y[r * O + k] = v;
        if (keep) c_y[r * O + k] = v;
      }
    }
  }
  if (B * O > 0) memcpy(a.y_n, yr, sizeof(float) * B * O);
}

void jordan_backward(const JordanBackwardArgs& a) {
  const JordanInputs& in = a.in;
  const int64_t T = in.s.T, B = in.s.B, D = in.s.D, H = in.s.H, O = in.s.O, TB = T * B;
  const float* c_yprev = a.cache;
  const float* c_h = c_yprev + TB * O;
  const float* c_y = c_h + TB * H;

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
  if (TB * H > 0) memset(dZh, 0, sizeof(float) * TB * H);
  if (TB * O > 0) memset(dZo, 0, sizeof(float) * TB * O);
  seq::copy_or_zero(dyr, a.dy_n, B * O);

  const int64_t S = TB > 0 ? seq::num_steps(in) : 0;
  for (int64_t s = S - 1; s >= 0; s--) {
    for (int64_t b = 0; b < B; b++) {
      const int64_t t = seq::time_at(in, b, s);
      if (t < 0) {
        for (int64_t k = 0; k < O; k++) dzo[b * O + k] = 0.0f;
        continue;
      }
      const int64_t r = t * B + b;
      for (int64_t k = 0; k < O; k++) {
        const float g = (dyr[b * O + k] + (a.dy ? a.dy[r * O + k] : 0.0f)) * dact_o(c_y[r * O + k], in.act_out);
        dzo[b * O + k] = g;
        dZo[r * O + k] = g;
      }
    }
    seq::gemm(false, false, B, H, O, dzo, O, in.w_ho, H, dh, H, false);  // dh = dzo W_ho
    for (int64_t b = 0; b < B; b++) {
      const int64_t t = seq::time_at(in, b, s);
      if (t < 0) {
        for (int64_t j = 0; j < H; j++) dzh[b * H + j] = 0.0f;
        continue;
      }
      const int64_t r = t * B + b;
      for (int64_t j = 0; j < H; j++) {
        const float g = dh[b * H + j] * dact_h(c_h[r * H + j], in.act);
        dzh[b * H + j] = g;
        dZh[r * H + j] = g;
      }
    }
    seq::gemm(false, false, B, O, H, dzh, H, in.w_hy, O, dyp, O, false);  // dy_prev = dzh W_hy
    for (int64_t b = 0; b < B; b++) {
      if (seq::time_at(in, b, s) < 0) continue;  // finished: the fed-back gradient passes unchanged
      for (int64_t k = 0; k < O; k++) dyr[b * O + k] = dyp[b * O + k];
    }
  }
  if (B * O > 0) memcpy(a.dy0, dyr, sizeof(float) * B * O);

  seq::gemm(true, false, H, D, TB, dZh, H, in.x, D, a.dw_ih, D, false);
  seq::gemm(true, false, H, O, TB, dZh, H, c_yprev, O, a.dw_hy, O, false);
  seq::gemm(true, false, O, H, TB, dZo, O, c_h, H, a.dw_ho, H, false);
  seq::gemm(false, false, TB, D, H, dZh, H, in.w_ih, D, a.dx, D, false);
  if (a.db_ih) col_sums(TB, H, dZh, a.db_ih);
  if (a.db_hh) col_sums(TB, H, dZh, a.db_hh);
  if (a.db_ho) col_sums(TB, O, dZo, a.db_ho);
}

}  // namespace gated
