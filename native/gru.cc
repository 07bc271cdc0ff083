// gru.cc: the GRU's public entry points (cells.h) and what its two drivers share (gru.h).
#include "gru.h"

#include <string.h>

#include "seq_common.h"

namespace gated {

void gru_forward(const GruForwardArgs& a) {
  const int64_t T = a.in.s.T, B = a.in.s.B, H = a.in.s.H;
  if (T <= 0 || B <= 0 || H <= 0) {  // no step (h_n = h0), or every output empty
    seq::copy_or_zero(a.h_n, a.h0, B * H);
    return;
  }
  if (a.reset_after)
    gru::reset_after_forward(a);
  else
    gru::reset_before_forward(a);
}

void gru_backward(const GruBackwardArgs& a) {
  if (seq::backward_trivial(a.in, a.g, kGruGates, a.dh_n)) return;
  if (a.reset_after)
    gru::reset_after_backward(a);
  else
    gru::reset_before_backward(a);
}

namespace gru {

ForwardSetup::ForwardSetup(const GruForwardArgs& a)
    : cache(a.cache, a.in.s.T, a.in.s.B, a.in.s.H), gates(cache.gates), rh(nullptr), H_(a.in.s.H) {
  const SeqInputs& in = a.in;
  const int64_t B = in.s.B, H = in.s.H, GH = kGruGates * H, TB = in.s.T * B;
  const bool keep = a.cache != nullptr;
  seq::Workspace ws;
  ws.add(&bias, GH);
  ws.add(&hbuf, 2 * B * H);
  ws.add(&gh, B * GH);
  if (!a.reset_after) ws.add(&rh, B * H);
  if (!keep) {
    ws.add(&gates, TB * GH);
    ws.add(&hn_scratch_, B * H);
  }
  ws.take();
  seq::zero_masked_rows(in, a.y, H);
  seq::zero_masked_rows(in, cache.blocks);
  seq::fold_bias(in, kGruGates, a.reset_after ? 2 : 3, bias);
  seq::copy_or_zero(hbuf, a.h0, B * H);
  if (rh) memset(rh, 0, sizeof(float) * B * H);  // rows of finished sequences still enter the product
}

BackwardSetup::BackwardSetup(const GruBackwardArgs& a, bool extra_rows) {
  const SeqInputs& in = a.in;
  const int64_t B = in.s.B, H = in.s.H, GH = kGruGates * H, TB = in.s.T * B;
  seq::Workspace ws;
  ws.add(&dG, TB * GH);
  ws.add(&extra, extra_rows ? TB * H : B * H);
  ws.add(&dA, 2 * B * GH);
  ws.add(&dh, B * H);
  ws.take();
  seq::zero_masked_rows(in, dG, GH);
  if (extra_rows) seq::zero_masked_rows(in, extra, H);
  seq::copy_or_zero(dh, a.dh_n, B * H);
}

void backward_finish(const GruBackwardArgs& a, const BackwardSetup& w) {
  const SeqInputs& in = a.in;
  const int64_t H = in.s.H, TB = in.s.T * in.s.B, GH = kGruGates * H;
  memcpy(a.g.dh0, w.dh, sizeof(float) * in.s.B * H);
  seq::input_grads(in, a.g, kGruGates, w.dG);
  const GruCacheView<> cache(a.cache, in.s.T, in.s.B, H);
  seq::gemm(true, false, 2 * H, H, TB, w.dG, GH, cache.h_prev, H, a.g.dw_hh, H, false);
}

}  // namespace gru
}  // namespace gated
