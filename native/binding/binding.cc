// binding.cc: the N-API surface of the kernels (node-addon-api only; the math lives in native/*.cc).
//
// Each cell op (rnnForward, rnnBackward, lstmForward, lstmBackward, gruForward, gruBackward) takes ONE
// plain object with the field names of lib/backend/types.ts plus the preallocated outputs
// (y, hN, cN, cache / dx, dh0, dc0, dWeightIh, dWeightHh, dBiasIh, dBiasHh, dWeightPeephole) and
// `async`. Forward also takes `keepCache` (default true; false: no cache, which must then be absent or
// null). Every field is checked here again (args.h), even though lib/validate.ts checked it first:
// a wrong length here would be a heap overflow, not an exception.
//
//   async false (default): the kernel runs on the calling thread; returns undefined.
//   async true: returns a Promise; the kernel runs on a libuv thread-pool thread (worker.h) and the
//     promise resolves to undefined once the outputs are written.
//
// Sync and async calls go through Dispatch (worker.h, which also explains the lifetimes in async
// mode). The `lengths` values are copied into the job, so changing them during the call cannot send
// a kernel out of bounds.
#include <napi.h>
#include <stdint.h>

#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "args.h"
#include "jordan_binding.h"
#include "norm_binding.h"
#include "cells.h"
#include "dispatch.h"
#include "gemm.h"
#include "pool.h"
#include "nn_binding.h"
#include "step_binding.h"
#include "attention_binding.h"
#include "train_binding.h"
#include "worker.h"

namespace gated_binding {
namespace {

using gated::SeqShape;

template <class A, void (*Kernel)(const A&)>
struct CellJob final : Job {
  A args{};
  std::vector<int32_t> lengths;  // owned copy; args.in.lengths points into it (or is null)
  void Run() override { Kernel(args); }
};

// ---- argument reading shared by the cells ----

#define GATED_COMMON_FIELDS                                                                            \
  "seqLen", "batch", "inputSize", "hiddenSize", "x", "weightIh", "weightHh", "biasIh", "biasHh", "h0", \
      "lengths", "reverse", "async"
#define GATED_GRAD_FIELDS "cache", "dy", "dhN", "dx", "dh0", "dWeightIh", "dWeightHh", "dBiasIh", "dBiasHh"

// Gates per hidden unit (cells.h: kRnnGates, kLstmGates, kGruGates).
struct Gates {
  int64_t G;
};

// Reads weight_ih [G*H, D], weight_hh [G*H, H] (required) and the biases [G*H] (optional), or their
// gradients, under the given field names, in that order (the factor G is left out of the formulas
// for the one-gate RNN).
struct Weights {
  float *w_ih, *w_hh, *b_ih, *b_hh;
};
Weights ReadWeights(Fields& f, Gates g, const SeqShape& s, const char* w_ih, const char* w_hh,
                    const char* b_ih, const char* b_hh) {
  Napi::Env env = f.Env();
  const Factor D{"inputSize", s.D}, H{"hiddenSize", s.H}, G{nullptr, g.G};
  auto rows = [&](const char* name, const Factor* cols) {  // [G*H, cols], or [G*H] for null cols
    if (g.G == 1) return cols ? Product(env, name, {H, *cols}) : Product(env, name, {H});
    return cols ? Product(env, name, {G, H, *cols}) : Product(env, name, {G, H});
  };
  Weights w{};
  w.w_ih = f.F32(w_ih, rows(w_ih, &D), Presence::Required);
  w.w_hh = f.F32(w_hh, rows(w_hh, &H), Presence::Required);
  w.b_ih = f.F32(b_ih, rows(b_ih, nullptr), Presence::Optional);
  w.b_hh = f.F32(b_hh, rows(b_hh, nullptr), Presence::Optional);
  return w;
}

// Sizes, x, weights, biases, h0 (checked, then ignored by backward: the cache holds h_prev),
// lengths and reverse. `job_lengths` receives the copy of lengths.
gated::SeqInputs ReadInputs(Fields& f, Gates g, std::vector<int32_t>* job_lengths) {
  Napi::Env env = f.Env();
  gated::SeqInputs in{};
  SeqShape& s = in.s;
  s.T = f.Size("seqLen");
  s.B = f.Size("batch");
  s.D = f.Size("inputSize");
  s.H = f.Size("hiddenSize");
  in.x = f.F32("x", Product(env, "x", {{"seqLen", s.T}, {"batch", s.B}, {"inputSize", s.D}}),
               Presence::Required);
  const Weights w = ReadWeights(f, g, s, "weightIh", "weightHh", "biasIh", "biasHh");
  in.w_ih = w.w_ih;
  in.w_hh = w.w_hh;
  in.b_ih = w.b_ih;
  in.b_hh = w.b_hh;
  f.Lengths("lengths", s.B, s.T, job_lengths);
  in.lengths = nullptr;  // set by the caller once the job's vector is in place
  in.reverse = f.Bool("reverse", false);
  return in;
}

Extent StateExtent(const Fields& f, const char* arg, const SeqShape& s) {
  return Product(f.Env(), arg, {{"batch", s.B}, {"hiddenSize", s.H}});
}
Extent SeqOutExtent(const Fields& f, const char* arg, const SeqShape& s) {
  return Product(f.Env(), arg, {{"seqLen", s.T}, {"batch", s.B}, {"hiddenSize", s.H}});
}
// weight_peephole [3H] (p_i, p_o, p_f), and its gradient.
Extent PeepholeExtent(const Fields& f, const SeqShape& s) {
  return Product(f.Env(), "weightPeephole", {{nullptr, gated::kLstmPeepholes}, {"hiddenSize", s.H}});
}

// The cache of a cell whose view (cells.h) has `width` floats per (t, b, hidden unit).
Extent CacheExtent(const Fields& f, int64_t width, const SeqShape& s) {
  return Product(f.Env(), "cache", {{nullptr, width}, {"seqLen", s.T}, {"batch", s.B}, {"hiddenSize", s.H}});
}

// dx, dh0, dWeightIh, dWeightHh (required), dBiasIh, dBiasHh (optional).
gated::SeqGrads ReadGrads(Fields& f, Gates g, const SeqShape& s) {
  Napi::Env env = f.Env();
  gated::SeqGrads gr{};
  gr.dx = f.F32("dx", Product(env, "dx", {{"seqLen", s.T}, {"batch", s.B}, {"inputSize", s.D}}),
                Presence::Required);
  gr.dh0 = f.F32("dh0", StateExtent(f, "dh0", s), Presence::Required);
  const Weights w = ReadWeights(f, g, s, "dWeightIh", "dWeightHh", "dBiasIh", "dBiasHh");
  gr.dw_ih = w.w_ih;
  gr.dw_hh = w.w_hh;
  gr.db_ih = w.b_ih;
  gr.db_hh = w.b_hh;
  return gr;
}

// Forward's cache: required when keepCache is true (the default); when keepCache is false it must be
// absent (undefined or null) and the kernel runs in inference mode (cache nullptr, cells.h).
float* ForwardCache(Fields& f, int64_t width, const SeqShape& s) {
  const bool keep = f.Bool("keepCache", true);
  if (keep) return f.F32("cache", CacheExtent(f, width, s), Presence::Required);
  Napi::Value v = f.Get("cache");
  if (!v.IsUndefined() && !v.IsNull()) {
    Throw(f.Env(), kValue, "cache: expected undefined or null when keepCache is false, got " + Describe(v));
  }
  return nullptr;
}

template <class J>
void PointLengths(J* job) {
  job->args.in.lengths = job->lengths.empty() ? nullptr : job->lengths.data();
}

// ---- the six cell ops ----

Napi::Value RnnForward(const Napi::CallbackInfo& info) {
  Fields f(info.Env(), info[0], {GATED_COMMON_FIELDS, "nonlinearity", "y", "hN", "cache", "keepCache"});
  auto job = std::make_unique<CellJob<gated::RnnForwardArgs, gated::rnn_forward>>();
  auto& a = job->args;
  a.in = ReadInputs(f, {gated::kRnnGates}, &job->lengths);
  a.act =
      f.Enum("nonlinearity", {"tanh", "relu"}) == 1 ? gated::RnnActivation::Relu : gated::RnnActivation::Tanh;
  a.h0 = f.F32("h0", StateExtent(f, "h0", a.in.s), Presence::Optional);
  a.y = f.F32("y", SeqOutExtent(f, "y", a.in.s), Presence::Required);
  a.h_n = f.F32("hN", StateExtent(f, "hN", a.in.s), Presence::Required);
  a.cache = ForwardCache(f, gated::RnnCacheView<>::kWidth, a.in.s);
  bool async = f.Bool("async", false);
  PointLengths(job.get());
  return Dispatch(f, "rnnForward", std::move(job), async);
}

Napi::Value RnnBackward(const Napi::CallbackInfo& info) {
  Fields f(info.Env(), info[0], {GATED_COMMON_FIELDS, "nonlinearity", GATED_GRAD_FIELDS});
  auto job = std::make_unique<CellJob<gated::RnnBackwardArgs, gated::rnn_backward>>();
  auto& a = job->args;
  a.in = ReadInputs(f, {gated::kRnnGates}, &job->lengths);
  a.act =
      f.Enum("nonlinearity", {"tanh", "relu"}) == 1 ? gated::RnnActivation::Relu : gated::RnnActivation::Tanh;
  f.F32("h0", StateExtent(f, "h0", a.in.s), Presence::Optional);  // checked, unused
  a.cache = f.F32("cache", CacheExtent(f, gated::RnnCacheView<>::kWidth, a.in.s), Presence::Required);
  a.dy = f.F32("dy", SeqOutExtent(f, "dy", a.in.s), Presence::Optional);
  a.dh_n = f.F32("dhN", StateExtent(f, "dhN", a.in.s), Presence::Optional);
  a.g = ReadGrads(f, {gated::kRnnGates}, a.in.s);
  bool async = f.Bool("async", false);
  PointLengths(job.get());
  return Dispatch(f, "rnnBackward", std::move(job), async);
}

Napi::Value LstmForward(const Napi::CallbackInfo& info) {
  Fields f(info.Env(), info[0],
           {GATED_COMMON_FIELDS, "c0", "weightPeephole", "y", "hN", "cN", "cache", "keepCache"});
  auto job = std::make_unique<CellJob<gated::LstmForwardArgs, gated::lstm_forward>>();
  auto& a = job->args;
  a.in = ReadInputs(f, {gated::kLstmGates}, &job->lengths);
  const SeqShape& s = a.in.s;
  a.w_peep = f.F32("weightPeephole", PeepholeExtent(f, s), Presence::Optional);
  a.h0 = f.F32("h0", StateExtent(f, "h0", s), Presence::Optional);
  a.c0 = f.F32("c0", StateExtent(f, "c0", s), Presence::Optional);
  a.y = f.F32("y", SeqOutExtent(f, "y", s), Presence::Required);
  a.h_n = f.F32("hN", StateExtent(f, "hN", s), Presence::Required);
  a.c_n = f.F32("cN", StateExtent(f, "cN", s), Presence::Required);
  a.cache = ForwardCache(f, gated::LstmCacheView<>::kWidth, s);
  bool async = f.Bool("async", false);
  PointLengths(job.get());
  return Dispatch(f, "lstmForward", std::move(job), async);
}

Napi::Value LstmBackward(const Napi::CallbackInfo& info) {
  Fields f(info.Env(), info[0],
           {GATED_COMMON_FIELDS, "c0", "weightPeephole", "dcN", "dc0", "dWeightPeephole", GATED_GRAD_FIELDS});
  auto job = std::make_unique<CellJob<gated::LstmBackwardArgs, gated::lstm_backward>>();
  auto& a = job->args;
  a.in = ReadInputs(f, {gated::kLstmGates}, &job->lengths);
  const SeqShape& s = a.in.s;
  const Extent peep = PeepholeExtent(f, s);
  a.w_peep = f.F32("weightPeephole", peep, Presence::Optional);
  f.F32("h0", StateExtent(f, "h0", s), Presence::Optional);  // checked, unused
  f.F32("c0", StateExtent(f, "c0", s), Presence::Optional);  // checked, unused
  a.cache = f.F32("cache", CacheExtent(f, gated::LstmCacheView<>::kWidth, s), Presence::Required);
  a.dy = f.F32("dy", SeqOutExtent(f, "dy", s), Presence::Optional);
  a.dh_n = f.F32("dhN", StateExtent(f, "dhN", s), Presence::Optional);
  a.dc_n = f.F32("dcN", StateExtent(f, "dcN", s), Presence::Optional);
  a.g = ReadGrads(f, {gated::kLstmGates}, s);
  a.dc0 = f.F32("dc0", StateExtent(f, "dc0", s), Presence::Required);
  // The kernel writes dw_peep whenever w_peep is given, so it is required then.
  a.dw_peep = f.F32("dWeightPeephole", peep, a.w_peep ? Presence::Required : Presence::Optional);
  bool async = f.Bool("async", false);
  PointLengths(job.get());
  return Dispatch(f, "lstmBackward", std::move(job), async);
}

Napi::Value GruForward(const Napi::CallbackInfo& info) {
  Fields f(info.Env(), info[0], {GATED_COMMON_FIELDS, "resetAfter", "y", "hN", "cache", "keepCache"});
  auto job = std::make_unique<CellJob<gated::GruForwardArgs, gated::gru_forward>>();
  auto& a = job->args;
  a.in = ReadInputs(f, {gated::kGruGates}, &job->lengths);
  a.reset_after = f.Bool("resetAfter", true);
  a.h0 = f.F32("h0", StateExtent(f, "h0", a.in.s), Presence::Optional);
  a.y = f.F32("y", SeqOutExtent(f, "y", a.in.s), Presence::Required);
  a.h_n = f.F32("hN", StateExtent(f, "hN", a.in.s), Presence::Required);
  a.cache = ForwardCache(f, gated::GruCacheView<>::kWidth, a.in.s);
  bool async = f.Bool("async", false);
  PointLengths(job.get());
  return Dispatch(f, "gruForward", std::move(job), async);
}

Napi::Value GruBackward(const Napi::CallbackInfo& info) {
  Fields f(info.Env(), info[0], {GATED_COMMON_FIELDS, "resetAfter", GATED_GRAD_FIELDS});
  auto job = std::make_unique<CellJob<gated::GruBackwardArgs, gated::gru_backward>>();
  auto& a = job->args;
  a.in = ReadInputs(f, {gated::kGruGates}, &job->lengths);
  a.reset_after = f.Bool("resetAfter", true);
  f.F32("h0", StateExtent(f, "h0", a.in.s), Presence::Optional);  // checked, unused
  a.cache = f.F32("cache", CacheExtent(f, gated::GruCacheView<>::kWidth, a.in.s), Presence::Required);
  a.dy = f.F32("dy", SeqOutExtent(f, "dy", a.in.s), Presence::Optional);
  a.dh_n = f.F32("dhN", StateExtent(f, "dhN", a.in.s), Presence::Optional);
  a.g = ReadGrads(f, {gated::kGruGates}, a.in.s);
  bool async = f.Bool("async", false);
  PointLengths(job.get());
  return Dispatch(f, "gruBackward", std::move(job), async);
}

// ---- threads ----

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Value v = info[0];
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : 0;
  if (!v.IsNumber() || !(d >= 1 && d <= 256) || std::floor(d) != d) {
    Throw(env, kValue, "n: expected an integer in [1, 256], got " + Describe(v));
  }
  gated::set_threads(static_cast<int>(d));
  return env.Undefined();
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), gated::get_threads());
}

// ---- internals (tests only) ----

std::string IsaName(const Napi::CallbackInfo& info) {
  Napi::Value v = info[0];
  if (!v.IsString()) Throw(info.Env(), kValue, "name: expected a string, got " + Describe(v));
  return v.As<Napi::String>().Utf8Value();
}

Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), gated::set_isa(IsaName(info).c_str()));
}
Napi::Value GetIsa(const Napi::CallbackInfo& info) {
  const char* isa = gated::kernels().isa;
  return Napi::String::New(info.Env(), isa ? isa : "");
}
Napi::Value BestIsa(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), gated::best_isa());
}
Napi::Value IsaAvailable(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), gated::isa_available(IsaName(info).c_str()));
}
// { active, best, available: [...], requested, notice } (dispatch.h).
Napi::Value IsaInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("active", Napi::String::New(env, gated::kernels().isa));
  o.Set("best", Napi::String::New(env, gated::best_isa()));
  Napi::Array list = Napi::Array::New(env);
  for (int i = 0; gated::available_isa(i); i++) list.Set(i, Napi::String::New(env, gated::available_isa(i)));
  o.Set("available", list);
  o.Set("requested", Napi::String::New(env, gated::requested_isa()));
  o.Set("notice", Napi::String::New(env, gated::isa_notice()));
  return o;
}

// A Float32Array argument of at least `min_length` elements (positional, so no getters run).
float* PositionalF32(Napi::Env env, const char* name, const Napi::Value& v, int64_t min_length,
                     const char* formula) {
  CheckTyped(env, name, v, napi_float32_array, "a Float32Array", Extent(min_length, formula), true);
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  float* p = a.Data();
  return p ? p : g_empty_floats;
}

// Elements a row-major [rows, cols] matrix with row stride ld spans; ld must be >= max(1, cols).
int64_t Span(Napi::Env env, const char* ld_name, int64_t rows, int64_t cols, int64_t ld) {
  if (ld < (cols > 1 ? cols : 1)) {
    Throw(env, kValue,
          std::string(ld_name) + ": expected at least max(1, " + std::to_string(cols) + "), got " +
              std::to_string(ld));
  }
  if (rows == 0 || cols == 0) return 0;
  return (rows - 1) * ld + cols;  // <= 2^62 + 2^31: no overflow
}

// sgemm(transA, transB, M, N, K, A, lda, B, ldb, C, ldc, accumulate): C (+)= op(A) op(B), gemm.h.
template <void (*Gemm)(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t,
                       float*, int64_t, bool)>
Napi::Value Sgemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool ta = Fields::BoolValue(env, "transA", info[0], false);
  bool tb = Fields::BoolValue(env, "transB", info[1], false);
  int64_t M = Fields::SizeValue(env, "M", info[2]);
  int64_t N = Fields::SizeValue(env, "N", info[3]);
  int64_t K = Fields::SizeValue(env, "K", info[4]);
  int64_t lda = Fields::SizeValue(env, "lda", info[6]);
  int64_t ldb = Fields::SizeValue(env, "ldb", info[8]);
  int64_t ldc = Fields::SizeValue(env, "ldc", info[10]);
  bool acc = Fields::BoolValue(env, "accumulate", info[11], false);
  int64_t a_span = ta ? Span(env, "lda", K, M, lda) : Span(env, "lda", M, K, lda);
  int64_t b_span = tb ? Span(env, "ldb", N, K, ldb) : Span(env, "ldb", K, N, ldb);
  int64_t c_span = Span(env, "ldc", M, N, ldc);
  const float* A = PositionalF32(env, "A", info[5], a_span, ta ? "(K-1)*lda+M" : "(M-1)*lda+K");
  const float* B = PositionalF32(env, "B", info[7], b_span, tb ? "(N-1)*ldb+K" : "(K-1)*ldb+N");
  float* C = PositionalF32(env, "C", info[9], c_span, "(M-1)*ldc+N");
  Gemm(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, acc);
  return env.Undefined();
}

// mathExp / mathSigmoid / mathTanh (x, y): y[i] = f(x[i]) through the active kernel table.
template <int Which>
Napi::Value MathKernel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Value xv = info[0];
  if (!xv.IsTypedArray() || xv.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
      xv.As<Napi::TypedArray>().ArrayBuffer().IsDetached()) {
    Throw(env, kValue, "x: expected a Float32Array, got " + Describe(xv));
  }
  int64_t n = static_cast<int64_t>(xv.As<Napi::Float32Array>().ElementLength());
  const float* x = PositionalF32(env, "x", xv, n, "x.length");
  Napi::Value yv = info[1];
  float* y = PositionalF32(env, "y", yv, n, "x.length");
  if (static_cast<int64_t>(yv.As<Napi::Float32Array>().ElementLength()) != n) {
    Throw(env, kShape,
          "y: expected a Float32Array of length " + std::to_string(n) + " (x.length), got " +
              std::to_string(yv.As<Napi::Float32Array>().ElementLength()));
  }
  const gated::MathKernels& m = gated::kernels().math;
  void (*fn)(const float*, float*, int64_t) = Which == 0 ? m.exp : Which == 1 ? m.sigmoid : m.tanh;
  if (!fn) Throw(env, kNative, "x: this math kernel is not available in this build");
  fn(x, y, n);
  return env.Undefined();
}

#define GATED_FN(fn, name) Napi::Function::New(env, Guard<fn>, name)

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("rnnForward", GATED_FN(RnnForward, "rnnForward"));
  exports.Set("rnnBackward", GATED_FN(RnnBackward, "rnnBackward"));
  exports.Set("lstmForward", GATED_FN(LstmForward, "lstmForward"));
  exports.Set("lstmBackward", GATED_FN(LstmBackward, "lstmBackward"));
  exports.Set("gruForward", GATED_FN(GruForward, "gruForward"));
  exports.Set("gruBackward", GATED_FN(GruBackward, "gruBackward"));
  exports.Set("setThreads", GATED_FN(SetThreads, "setThreads"));
  exports.Set("getThreads", GATED_FN(GetThreads, "getThreads"));

  Napi::Object internals = Napi::Object::New(env);
  internals.Set("setIsa", GATED_FN(SetIsa, "setIsa"));
  internals.Set("getIsa", GATED_FN(GetIsa, "getIsa"));
  internals.Set("bestIsa", GATED_FN(BestIsa, "bestIsa"));
  internals.Set("isaAvailable", GATED_FN(IsaAvailable, "isaAvailable"));
  internals.Set("isaInfo", GATED_FN(IsaInfo, "isaInfo"));
  internals.Set("sgemm", GATED_FN(Sgemm<gated::sgemm>, "sgemm"));
  internals.Set("sgemmReference", GATED_FN(Sgemm<gated::sgemm_reference>, "sgemmReference"));
  internals.Set("mathExp", GATED_FN(MathKernel<0>, "mathExp"));
  internals.Set("mathSigmoid", GATED_FN(MathKernel<1>, "mathSigmoid"));
  internals.Set("mathTanh", GATED_FN(MathKernel<2>, "mathTanh"));
  exports.Set("internals", internals);
  // Every op is a flat export named as its TypeScript op (lib/ops/): nn_binding.cc (linear, embedding),
  // train_binding.cc (losses, optimizer steps, clipping), jordan_binding.cc (jordanForward/Backward),
  // norm_binding.cc (layerNormForward/Backward), step_binding.cc (stepCreateCache, stepCacheInfo,
  // stepForward: the decode step), attention_binding.cc (attnDecoderForward/Backward, attnDecoderCacheSize).
  RegisterNnOps(env, exports);
  RegisterTrainOps(env, exports);
  RegisterJordanOps(env, exports);
  RegisterNormOps(env, exports);
  RegisterStepOps(env, exports);
  RegisterAttentionOps(env, exports);
  return exports;
}

}  // namespace
}  // namespace gated_binding

static Napi::Object InitGated(Napi::Env env, Napi::Object exports) {
  return gated_binding::Init(env, exports);
}
NODE_API_MODULE(gated, InitGated)
