// train_binding.cc: the N-API surface of the training kernels (native/train.h), exports.train.
//
// Each op takes ONE plain object (field names below, the same as lib/train/native.ts sends). A loss
// or an optimizer step is a single memory-bound pass over arrays the size of one layer's
// parameters, but a training step runs many of them, so every op can also run off the main thread
// (`async`). Every field is checked here again with args.h (two phases: all properties read first,
// then checks that cannot run user code), because a wrong length or an out-of-range class id here
// would be an out-of-bounds access, not an exception. `targets` is copied and checked on the copy,
// so a change to the JS array during an async call cannot send the kernel out of bounds.
//
//   softmaxCrossEntropy {rows, numClasses, logits [rows*numClasses], targets Int32Array [rows],
//       weights? [rows], ignoreIndex (int32, default -100), reduction ('mean' | 'sum'),
//       dLogits [rows*numClasses] out, correct? Uint8Array [rows] out, async}
//       -> {loss, weightSum, numCorrect}
//   bceWithLogits / mse {size, input [size], target [size], weights? [size], reduction,
//       dInput [size] out, async} -> loss
//   sgdStep {size, param, grad, momentumBuffer?, lr, momentum, dampening, weightDecay, nesterov, step,
//       async}
//   adamStep {size, param, grad, expAvg, expAvgSq, lr, beta1, beta2, eps, weightDecay,
//       decoupledWeightDecay, step, async}
//   rmspropStep {size, param, grad, squareAvg, gradAvg?, momentumBuffer?, lr, alpha, eps,
//       weightDecay, momentum, centered, async}
//   clipGradNorm {grads: Float32Array[], maxNorm, async} -> total norm (before clipping)
//   clipGradValue {grads: Float32Array[], clipValue, async}
//   async (default false): false runs the kernel on the calling thread and returns the value shown
//     (or undefined); true returns a Promise resolved to that value once the kernel ran on a libuv
//     worker thread (worker.h: the arrays stay referenced until then and must not be touched).
// Errors: `code` ERR_GATED_SHAPE / ERR_GATED_VALUE / ERR_GATED_NATIVE, message "<argument>: ..."
// (args.h), thrown (also with async true: arguments are checked before anything is queued); mapped
// to ShapeError / ValueError / NativeError by lib/backend/native.ts's mapNativeError.
#include "train_binding.h"

#include <napi.h>
#include <stdint.h>

#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "args.h"
#include "train.h"
#include "worker.h"

namespace gated_binding {
namespace {

constexpr double kInf = 1.7976931348623157e308;  // "no upper bound" for Real (values stay finite)

// An integer in [lo, hi]; undefined or null: dflt.
int64_t Integer(const Fields& f, const char* name, int64_t dflt, int64_t lo, int64_t hi) {
  Napi::Value v = f.Get(name);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!v.IsNumber() || !(d >= (double)lo && d <= (double)hi) || std::floor(d) != d) {
    Throw(f.Env(), kValue,
          std::string(name) + ": expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
              "], got " + Describe(v));
  }
  return (int64_t)d;
}

gated::Reduction ReadReduction(const Fields& f) {
  return f.Enum("reduction", {"mean", "sum"}) == 1 ? gated::Reduction::Sum : gated::Reduction::Mean;
}

// A typed array of `type` with exactly `length` elements; its data pointer (non-null when length 0:
// g_empty_floats, never dereferenced). nullptr when optional and undefined/null. The array is held
// by an async call (Fields::Hold).
void* Typed(Fields& f, const char* name, napi_typedarray_type type, const char* type_name, const Extent& e,
            Presence presence) {
  Napi::Value v = f.Get(name);
  if ((v.IsUndefined() || v.IsNull()) && presence == Presence::Optional) return nullptr;
  Napi::TypedArray a = CheckTyped(f.Env(), name, v, type, type_name, e);
  f.Hold(name, a);
  uint8_t* base = static_cast<uint8_t*>(a.ArrayBuffer().Data());
  return base ? static_cast<void*>(base + a.ByteOffset()) : static_cast<void*>(g_empty_floats);
}

// Optional per-row weights: finite and >= 0 (a negative or NaN weight would turn the mean's
// denominator meaningless).
const float* Weights(Fields& f, const Extent& e) {
  const float* w = f.F32("weights", e, Presence::Optional);
  if (!w) return nullptr;
  for (int64_t i = 0; i < e.value; i++) {
    if (!(w[i] >= 0.0f) || !std::isfinite(w[i])) {
      Throw(f.Env(), kValue,
            "weights: weights[" + std::to_string(i) + "] = " + NumberText(w[i]) +
                " is not a finite number >= 0");
    }
  }
  return w;
}

// ---- losses ----

struct CrossEntropyJob final : Job {
  const float* logits;
  std::vector<int32_t> targets;  // owned copy (checked)
  const float* w;
  int64_t N, C;
  int32_t ignore;
  gated::Reduction red;
  float* dlogits;
  uint8_t* correct;
  gated::CrossEntropyResult r{};
  void Run() override {
    const int32_t* t = targets.empty() ? reinterpret_cast<const int32_t*>(g_empty_floats) : targets.data();
    r = gated::softmax_cross_entropy(logits, t, w, N, C, ignore, red, dlogits, correct);
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    out.Set("loss", Napi::Number::New(env, r.loss));
    out.Set("weightSum", Napi::Number::New(env, r.weight_sum));
    out.Set("numCorrect", Napi::Number::New(env, (double)r.num_correct));
    return out;
  }
};

Napi::Value SoftmaxCrossEntropy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Fields f(env, info[0],
           {"rows", "numClasses", "logits", "targets", "weights", "ignoreIndex", "reduction", "dLogits",
            "correct", "async"});
  auto job = std::make_unique<CrossEntropyJob>();
  const int64_t N = f.Size("rows"), C = f.Size("numClasses");
  const Extent nc = Product(env, "logits", {{"rows", N}, {"numClasses", C}});
  const Extent rows = Product(env, "targets", {{"rows", N}});
  job->logits = f.F32("logits", nc, Presence::Required);
  f.Int32Copy("targets", rows, &job->targets);
  job->w = Weights(f, rows);
  const int64_t ignore = Integer(f, "ignoreIndex", -100, INT32_MIN, INT32_MAX);
  job->red = ReadReduction(f);
  job->dlogits =
      f.F32("dLogits", Product(env, "dLogits", {{"rows", N}, {"numClasses", C}}), Presence::Required);
  job->correct =
      static_cast<uint8_t*>(Typed(f, "correct", napi_uint8_array, "a Uint8Array", rows, Presence::Optional));
  const bool async = f.Bool("async", false);
  // Every target is a class id or ignoreIndex: the kernel indexes the row with it (checked on the
  // copy the kernel reads).
  for (int64_t i = 0; i < N; i++) {
    const int32_t t = job->targets[i];
    if (t != ignore && (t < 0 || (int64_t)t >= C)) {
      Throw(env, kValue,
            "targets: targets[" + std::to_string(i) + "] = " + std::to_string(t) +
                " is outside [0, numClasses = " + std::to_string(C) + ") and is not ignoreIndex (" +
                std::to_string(ignore) + ")");
    }
  }
  job->N = N;
  job->C = C;
  job->ignore = (int32_t)ignore;
  return Dispatch(f, "softmaxCrossEntropy", std::move(job), async);
}

// bceWithLogits (Which 0) and mse (Which 1): same fields.
template <int Which>
struct PointwiseLossJob final : Job {
  const float *x, *y, *w;
  int64_t n;
  gated::Reduction red;
  float* dx;
  double loss = 0;
  void Run() override {
    loss = Which == 0 ? gated::bce_with_logits(x, y, w, n, red, dx) : gated::mse(x, y, w, n, red, dx);
  }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, loss); }
};

template <int Which>
Napi::Value PointwiseLoss(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Fields f(env, info[0], {"size", "input", "target", "weights", "reduction", "dInput", "async"});
  auto job = std::make_unique<PointwiseLossJob<Which>>();
  const int64_t n = f.Size("size");
  const Extent e = Product(env, "input", {{"size", n}});
  job->x = f.F32("input", e, Presence::Required);
  const float* y = f.F32("target", e, Presence::Required);
  job->y = y;
  job->w = Weights(f, e);
  job->red = ReadReduction(f);
  job->dx = f.F32("dInput", e, Presence::Required);
  job->n = n;
  const bool async = f.Bool("async", false);
  if (Which == 0) {
    // BCE targets are probabilities (a value check, not a memory bound: read in place).
    for (int64_t i = 0; i < n; i++) {
      if (!(y[i] >= 0.0f && y[i] <= 1.0f)) {
        Throw(env, kValue,
              "target: target[" + std::to_string(i) + "] = " + NumberText(y[i]) + " is outside [0, 1]");
      }
    }
  }
  return Dispatch(f, Which == 0 ? "bceWithLogits" : "mse", std::move(job), async);
}

// ---- optimizers ----

// A kernel call bound to its arguments (the optimizer steps: no result).
template <class F>
struct CallJob final : Job {
  explicit CallJob(F fn) : fn_(std::move(fn)) {}
  void Run() override { fn_(); }

 private:
  F fn_;  // captures raw pointers and plain values only (it runs on the worker thread)
};

template <class F>
std::unique_ptr<Job> MakeCallJob(F fn) {
  return std::make_unique<CallJob<F>>(std::move(fn));
}

Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Fields f(env, info[0],
           {"size", "param", "grad", "momentumBuffer", "lr", "momentum", "dampening", "weightDecay",
            "nesterov", "step", "async"});
  const int64_t n = f.Size("size");
  const Extent e = Product(env, "param", {{"size", n}});
  float* param = f.F32("param", e, Presence::Required);
  const float* grad = f.F32("grad", e, Presence::Required);
  gated::SgdOptions o{};
  o.lr = Real(f, "lr", 1e-3, 0, true, kInf, true);
  o.momentum = Real(f, "momentum", 0, 0, true, kInf, true);
  o.dampening = Real(f, "dampening", 0, 0, true, kInf, true);
  o.weight_decay = Real(f, "weightDecay", 0, 0, true, kInf, true);
  o.nesterov = f.Bool("nesterov", false);
  const int64_t step = Integer(f, "step", 1, 1, kMaxElements);
  if (o.nesterov && (o.momentum <= 0 || o.dampening != 0)) {
    Throw(env, kValue, "nesterov: requires momentum > 0 and dampening = 0");
  }
  float* buf = f.F32("momentumBuffer", e, o.momentum != 0 ? Presence::Required : Presence::Optional);
  const bool async = f.Bool("async", false);
  return Dispatch(f, "sgdStep", MakeCallJob([=] { gated::sgd_step(param, grad, buf, n, o, step); }), async);
}

Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Fields f(env, info[0],
           {"size", "param", "grad", "expAvg", "expAvgSq", "lr", "beta1", "beta2", "eps", "weightDecay",
            "decoupledWeightDecay", "step", "async"});
  const int64_t n = f.Size("size");
  const Extent e = Product(env, "param", {{"size", n}});
  float* param = f.F32("param", e, Presence::Required);
  const float* grad = f.F32("grad", e, Presence::Required);
  float* m = f.F32("expAvg", e, Presence::Required);
  float* v = f.F32("expAvgSq", e, Presence::Required);
  gated::AdamOptions o{};
  o.lr = Real(f, "lr", 1e-3, 0, true, kInf, true);
  o.beta1 = Real(f, "beta1", 0.9, 0, true, 1, false);
  o.beta2 = Real(f, "beta2", 0.999, 0, true, 1, false);
  o.eps = Real(f, "eps", 1e-8, 0, true, kInf, true);
  o.decoupled = f.Bool("decoupledWeightDecay", false);
  o.weight_decay = Real(f, "weightDecay", o.decoupled ? 1e-2 : 0, 0, true, kInf, true);
  const int64_t step = Integer(f, "step", 1, 1, kMaxElements);
  const bool async = f.Bool("async", false);
  return Dispatch(f, "adamStep", MakeCallJob([=] { gated::adam_step(param, grad, m, v, n, o, step); }),
                  async);
}

Napi::Value RmspropStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Fields f(env, info[0],
           {"size", "param", "grad", "squareAvg", "gradAvg", "momentumBuffer", "lr", "alpha", "eps",
            "weightDecay", "momentum", "centered", "async"});
  const int64_t n = f.Size("size");
  const Extent e = Product(env, "param", {{"size", n}});
  float* param = f.F32("param", e, Presence::Required);
  const float* grad = f.F32("grad", e, Presence::Required);
  float* sq = f.F32("squareAvg", e, Presence::Required);
  gated::RmspropOptions o{};
  o.lr = Real(f, "lr", 1e-2, 0, true, kInf, true);
  o.alpha = Real(f, "alpha", 0.99, 0, true, 1, true);
  o.eps = Real(f, "eps", 1e-8, 0, true, kInf, true);
  o.weight_decay = Real(f, "weightDecay", 0, 0, true, kInf, true);
  o.momentum = Real(f, "momentum", 0, 0, true, kInf, true);
  o.centered = f.Bool("centered", false);
  float* ga = f.F32("gradAvg", e, o.centered ? Presence::Required : Presence::Optional);
  float* buf = f.F32("momentumBuffer", e, o.momentum > 0 ? Presence::Required : Presence::Optional);
  if (!o.centered) ga = nullptr;
  if (!(o.momentum > 0)) buf = nullptr;
  const bool async = f.Bool("async", false);
  return Dispatch(f, "rmspropStep", MakeCallJob([=] { gated::rmsprop_step(param, grad, sq, ga, buf, n, o); }),
                  async);
}

// ---- clipping ----

// The gradient list, copied: pointers and sizes (the arrays themselves are held by an async call).
struct GradList {
  std::vector<float*> ptrs;
  std::vector<int64_t> sizes;
};

// `grads`: an Array of Float32Arrays. Phase 1 reads every element (an index getter may run user
// code); phase 2 then checks them, so no getter can detach an array after it was checked.
void ReadGradList(Fields& f, GradList* out) {
  Napi::Env env = f.Env();
  Napi::Value v = f.Get("grads");
  if (!v.IsArray()) Throw(env, kValue, "grads: expected an Array of Float32Arrays, got " + Describe(v));
  Napi::Array list = v.As<Napi::Array>();
  const uint32_t count = list.Length();
  std::vector<Napi::Value> items;
  items.reserve(count);
  for (uint32_t k = 0; k < count; k++) items.push_back(list.Get(k));  // may run user code
  for (uint32_t k = 0; k < count; k++) {
    const Napi::Value& it = items[k];
    std::string name = "grads[" + std::to_string(k) + "]";
    if (!it.IsTypedArray() || it.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      Throw(env, kValue, name + ": expected a Float32Array, got " + Describe(it));
    }
    Napi::Float32Array a = it.As<Napi::Float32Array>();
    if (a.ArrayBuffer().IsDetached())
      Throw(env, kValue, name + ": expected a Float32Array, got one whose ArrayBuffer is detached");
    f.Hold(name, a);
    float* p = a.Data();
    out->ptrs.push_back(p ? p : g_empty_floats);
    out->sizes.push_back(p ? (int64_t)a.ElementLength() : 0);
  }
}

// A number >= 0 (at most `hi`) that must be given.
double RequiredBound(const Fields& f, const char* name, double hi) {
  const double d = Real(f, name, 0, 0, true, hi, true);
  if (f.Get(name).IsUndefined() || f.Get(name).IsNull()) {
    Throw(f.Env(), kValue, std::string(name) + ": expected a number >= 0, got " + Describe(f.Get(name)));
  }
  return d;
}

struct ClipNormJob final : Job {
  GradList g;
  double max_norm;
  double norm = 0;
  void Run() override {
    norm = gated::clip_grad_norm(g.ptrs.data(), g.sizes.data(), (int64_t)g.ptrs.size(), max_norm);
  }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, norm); }
};

struct ClipValueJob final : Job {
  GradList g;
  double clip_value;
  void Run() override {
    gated::clip_grad_value(g.ptrs.data(), g.sizes.data(), (int64_t)g.ptrs.size(), clip_value);
  }
};

Napi::Value ClipGradNorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Fields f(env, info[0], {"grads", "maxNorm", "async"});
  auto job = std::make_unique<ClipNormJob>();
  job->max_norm = RequiredBound(f, "maxNorm", kInf);
  ReadGradList(f, &job->g);
  const bool async = f.Bool("async", false);
  return Dispatch(f, "clipGradNorm", std::move(job), async);
}

Napi::Value ClipGradValue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Fields f(env, info[0], {"grads", "clipValue", "async"});
  auto job = std::make_unique<ClipValueJob>();
  job->clip_value = RequiredBound(f, "clipValue", 3.4028234663852886e38);
  ReadGradList(f, &job->g);
  const bool async = f.Bool("async", false);
  return Dispatch(f, "clipGradValue", std::move(job), async);
}

}  // namespace

void RegisterTrainOps(Napi::Env env, Napi::Object exports) {
  exports.Set("softmaxCrossEntropy",
              Napi::Function::New(env, Guard<SoftmaxCrossEntropy>, "softmaxCrossEntropy"));
  exports.Set("bceWithLogits", Napi::Function::New(env, Guard<PointwiseLoss<0>>, "bceWithLogits"));
  exports.Set("mse", Napi::Function::New(env, Guard<PointwiseLoss<1>>, "mse"));
  exports.Set("sgdStep", Napi::Function::New(env, Guard<SgdStep>, "sgdStep"));
  exports.Set("adamStep", Napi::Function::New(env, Guard<AdamStep>, "adamStep"));
  exports.Set("rmspropStep", Napi::Function::New(env, Guard<RmspropStep>, "rmspropStep"));
  exports.Set("clipGradNorm", Napi::Function::New(env, Guard<ClipGradNorm>, "clipGradNorm"));
  exports.Set("clipGradValue", Napi::Function::New(env, Guard<ClipGradValue>, "clipGradValue"));
}

}  // namespace gated_binding
