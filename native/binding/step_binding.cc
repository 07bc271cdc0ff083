// step_binding.cc: the N-API surface of the decode step (native/step.h): three flat exports.
//
//   stepCreateCache() -> an opaque cache object (a type-tagged external) holding the packed weights of
//       one model; the packed copy is made on the first forward and again whenever the key changes
//       (version, weight arrays, sizes, ISA) and freed with the object.
//   stepCacheInfo(cache) -> { packed: boolean, version: number, packedBytes: number }
//   stepForward({ cache, version, cell: 'lstm' | 'gru' | 'rnn', nonlinearity ('tanh' | 'relu', rnn),
//       resetAfter (gru, default true), inputSize, hiddenSize (>= 1), outputSize (default 0: no
//       output layer), weightIh [G*H*D], weightHh [G*H*H], biasIh?, biasHh? [G*H], weightPeephole?
//       [3H] (lstm), weightOut [V*H] (when outputSize > 0), biasOut? [V],
//       batch, stateRows (default batch), x [batch*D], h [stateRows*H], c? [stateRows*H] (lstm),
//       stateIndex? Int32Array [batch] (each in [0, stateRows)), hOut [batch*H], cOut [batch*H]
//       (lstm), logProbs? [batch*V], topK (default 0), groupSize (default 1, divides batch, topK <=
//       groupSize*V), rowScores? [batch], topValues [batch/groupSize*topK], topIndices Int32Array
//       [batch/groupSize*topK] (when topK > 0), async })
//     version: an integer in [0, 2^53) the caller bumps whenever it changes the weights in place; with
//     the same version and the same arrays the packed copy is reused (changed values go unseen).
//     hOut / cOut may be h / c or overlap x, h, c (the state rows are gathered first); no output may
//     overlap another output, a weight or rowScores (ERR_GATED_VALUE naming the output).
//   async false (default): runs on the calling thread; true: returns a Promise, the step runs on a
//     libuv worker (worker.h: every array stays referenced until it settles, and must not be touched).
//     Steps on one cache run one after another (the cache's mutex).
// Errors: `code` ERR_GATED_SHAPE / ERR_GATED_VALUE / ERR_GATED_NATIVE, message "<argument>: ..."
// (args.h), thrown before anything runs or is queued.
#include "step_binding.h"

#include <napi.h>
#include <stdint.h>

#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "args.h"
#include "step.h"
#include "worker.h"

namespace gated_binding {
namespace {

// Tags the cache externals, so that no other external (another addon's) is taken for one.
const napi_type_tag kStepCacheTag = {0x9a1c3f5e2b7d4c61ULL, 0x5d0e8b3a7f124c9bULL};

// The JS side's share of a cache, and how many bytes of it V8 has been told about (the packed copy
// is native memory V8 cannot see: reported with AdjustExternalMemory, so that a program that drops
// many steps collects them). Touched on the main thread only.
struct CacheBox {
  std::shared_ptr<gated::StepCache> cache;
  int64_t reported = 0;
};

// Tells V8 the packed copy's current size (main thread; after a step, which may have repacked).
void ReportMemory(Napi::Env env, CacheBox* box) {
  int64_t bytes;
  {
    std::lock_guard<std::mutex> lock(box->cache->mutex);
    bytes = (int64_t)box->cache->packed_bytes();
  }
  if (bytes != box->reported) {
    Napi::MemoryManagement::AdjustExternalMemory(env, bytes - box->reported);
    box->reported = bytes;
  }
}

Napi::Value CreateCache(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* box = new CacheBox{std::make_shared<gated::StepCache>()};
  // The finalizer drops the JS side's share (a step still running keeps its own, StepJob::cache) and
  // takes back what was reported.
  Napi::External<CacheBox> ext = Napi::External<CacheBox>::New(env, box, [](Napi::Env e, CacheBox* b) {
    if (b->reported) Napi::MemoryManagement::AdjustExternalMemory(e, -b->reported);
    delete b;
  });
  ext.TypeTag(&kStepCacheTag);
  return ext;
}

CacheBox* CacheOf(Napi::Env env, const Napi::Value& v) {
  if (!v.IsExternal() || !v.As<Napi::External<CacheBox>>().CheckTypeTag(&kStepCacheTag)) {
    Throw(env, kValue, "cache: expected a step cache (from stepCreateCache()), got " + Describe(v));
  }
  return v.As<Napi::External<CacheBox>>().Data();
}

Napi::Value CacheInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<gated::StepCache> c = CacheOf(env, info[0])->cache;
  std::lock_guard<std::mutex> lock(c->mutex);  // waits for a step running on this cache
  Napi::Object o = Napi::Object::New(env);
  o.Set("packed", Napi::Boolean::New(env, c->valid));
  o.Set("version", Napi::Number::New(env, (double)c->version));
  o.Set("packedBytes", Napi::Number::New(env, (double)c->packed_bytes()));
  return o;
}

struct StepJob final : Job {
  std::shared_ptr<gated::StepCache> cache;
  CacheBox* box = nullptr;  // valid in Result: the cache object is held (Fields::Hold) until then
  gated::StepWeights w{};
  uint64_t version = 0;
  gated::StepArgs a{};
  std::vector<int32_t> index;  // owned copy of stateIndex (checked), a.state_index points into it
  void Run() override { gated::step_forward(*cache, w, version, a); }
  Napi::Value Result(Napi::Env env) override {
    ReportMemory(env, box);
    return env.Undefined();
  }
};

// version: an integer in [0, 2^53).
uint64_t Version(const Fields& f) {
  Napi::Value v = f.Get("version");
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!v.IsNumber() || !(d >= 0 && d < 9007199254740992.0) || std::floor(d) != d) {
    Throw(f.Env(), kValue, "version: expected an integer in [0, 2^53), got " + Describe(v));
  }
  return (uint64_t)d;
}

// A field that this cell does not take must be absent (undefined or null).
void Absent(const Fields& f, const char* name, const char* why) {
  Napi::Value v = f.Get(name);
  if (!v.IsUndefined() && !v.IsNull())
    Throw(f.Env(), kValue, std::string(name) + ": " + why + ", got " + Describe(v));
}

// An Int32Array output of exactly e.value elements (held while an async call runs).
int32_t* Int32Out(Fields& f, const char* name, const Extent& e) {
  Napi::Value v = f.Get(name);
  CheckTyped(f.Env(), name, v, napi_int32_array, "an Int32Array", e);
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  f.Hold(name, a);
  int32_t* p = a.Data();
  return p ? p : reinterpret_cast<int32_t*>(g_empty_floats);
}

struct Span {
  const char* name;
  const void* p;
  int64_t bytes;
};
bool Overlap(const Span& a, const Span& b) {
  if (!a.p || !b.p || a.bytes <= 0 || b.bytes <= 0) return false;
  const char *a0 = (const char*)a.p, *b0 = (const char*)b.p;
  return a0 < b0 + b.bytes && b0 < a0 + a.bytes;
}

Napi::Value Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Fields f(env, info[0], {"cache",          "version",   "cell",       "nonlinearity",
                          "resetAfter",     "inputSize", "hiddenSize", "outputSize",
                          "weightIh",       "weightHh",  "biasIh",     "biasHh",
                          "weightPeephole", "weightOut", "biasOut",    "batch",
                          "stateRows",      "x",         "h",          "c",
                          "stateIndex",     "hOut",      "cOut",       "logProbs",
                          "topK",           "groupSize", "rowScores",  "topValues",
                          "topIndices",     "async"});
  auto job = std::make_unique<StepJob>();
  job->box = CacheOf(env, f.Get("cache"));
  job->cache = job->box->cache;
  f.HoldObject(f.Get("cache").As<Napi::Object>());  // keeps the box alive until the job's Result
  job->version = Version(f);
  const int kind = f.Enum("cell", {"lstm", "gru", "rnn"});
  gated::StepWeights& w = job->w;
  if (kind == 0) {
    w.cell = gated::StepCell::Lstm;
  } else if (kind == 1) {
    w.cell = f.Bool("resetAfter", true) ? gated::StepCell::GruResetAfter : gated::StepCell::GruResetBefore;
  } else {
    w.cell =
        f.Enum("nonlinearity", {"tanh", "relu"}) == 1 ? gated::StepCell::RnnRelu : gated::StepCell::RnnTanh;
  }
  if (kind != 1) Absent(f, "resetAfter", "only a gru takes resetAfter");
  if (kind != 2) Absent(f, "nonlinearity", "only an rnn takes nonlinearity");
  const bool lstm = kind == 0;
  const int64_t D = f.Size("inputSize"), H = f.Size("hiddenSize"), V = f.SizeOr("outputSize", 0);
  if (H < 1) Throw(env, kValue, "hiddenSize: expected at least 1, got 0");
  w.D = D;
  w.H = H;
  w.V = V;
  const Factor Gf{nullptr, gated::step_gates(w.cell)}, Df{"inputSize", D}, Hf{"hiddenSize", H},
      Vf{"outputSize", V};
  w.w_ih = f.F32("weightIh", Product(env, "weightIh", {Gf, Hf, Df}), Presence::Required);
  w.w_hh = f.F32("weightHh", Product(env, "weightHh", {Gf, Hf, Hf}), Presence::Required);
  w.b_ih = f.F32("biasIh", Product(env, "biasIh", {Gf, Hf}), Presence::Optional);
  w.b_hh = f.F32("biasHh", Product(env, "biasHh", {Gf, Hf}), Presence::Optional);
  if (lstm)
    w.w_peep =
        f.F32("weightPeephole", Product(env, "weightPeephole", {{nullptr, 3}, Hf}), Presence::Optional);
  else
    Absent(f, "weightPeephole", "only an lstm takes weightPeephole");
  if (V > 0) {
    w.w_out = f.F32("weightOut", Product(env, "weightOut", {Vf, Hf}), Presence::Required);
    w.b_out = f.F32("biasOut", Product(env, "biasOut", {Vf}), Presence::Optional);
  } else {
    Absent(f, "weightOut", "expected no output layer with outputSize 0");
    Absent(f, "biasOut", "expected no output layer with outputSize 0");
  }

  gated::StepArgs& a = job->a;
  const int64_t B = f.Size("batch");
  const Factor Bf{"batch", B};
  const bool indexed = !f.Get("stateIndex").IsUndefined() && !f.Get("stateIndex").IsNull();
  const int64_t rows = f.SizeOr("stateRows", B);
  if (!indexed && rows != B) {
    Throw(env, kValue,
          "stateRows: expected batch (" + std::to_string(B) + ") without a stateIndex, got " +
              std::to_string(rows));
  }
  const Factor Rf{"stateRows", rows};
  a.B = B;
  a.rows = rows;
  a.x = f.F32("x", Product(env, "x", {Bf, Df}), Presence::Required);
  a.h = f.F32("h", Product(env, "h", {Rf, Hf}), Presence::Required);
  if (indexed) {
    f.IndexCopy("stateIndex", Product(env, "stateIndex", {Bf}), rows, "stateRows", &job->index);
    a.state_index = job->index.empty() ? nullptr : job->index.data();
  }
  a.h_out = f.F32("hOut", Product(env, "hOut", {Bf, Hf}), Presence::Required);
  if (lstm) {
    a.c = f.F32("c", Product(env, "c", {Rf, Hf}), Presence::Optional);
    a.c_out = f.F32("cOut", Product(env, "cOut", {Bf, Hf}), Presence::Required);
  } else {
    Absent(f, "c", "only an lstm has a cell state");
    Absent(f, "cOut", "only an lstm has a cell state");
  }
  if (V > 0)
    a.log_probs = f.F32("logProbs", Product(env, "logProbs", {Bf, Vf}), Presence::Optional);
  else
    Absent(f, "logProbs", "expected no output layer with outputSize 0");
  a.top_k = f.SizeOr("topK", 0);
  a.group_size = f.SizeOr("groupSize", 1);
  if (a.group_size < 1 || B % a.group_size != 0) {
    Throw(env, kValue,
          "groupSize: expected a divisor of batch (" + std::to_string(B) + "), got " +
              std::to_string(a.group_size));
  }
  const int64_t groups = B / a.group_size;
  if (a.top_k > 0) {
    if (V == 0)
      Throw(env, kValue,
            "topK: expected 0 without an output layer (outputSize 0), got " + std::to_string(a.top_k));
    if (a.top_k > a.group_size * V) {
      Throw(env, kValue,
            "topK: expected at most groupSize*outputSize = " + std::to_string(a.group_size * V) + ", got " +
                std::to_string(a.top_k));
    }
    const Extent top = Product(env, "topValues", {{"batch/groupSize", groups}, {"topK", a.top_k}});
    a.row_scores = f.F32("rowScores", Product(env, "rowScores", {Bf}), Presence::Optional);
    a.top_values = f.F32("topValues", top, Presence::Required);
    a.top_indices = Int32Out(f, "topIndices", top);
  } else {
    Absent(f, "rowScores", "expected no rowScores with topK 0");
    Absent(f, "topValues", "expected no topValues with topK 0");
    Absent(f, "topIndices", "expected no topIndices with topK 0");
  }

  // Outputs overlap nothing but x, h and c (which are gathered before any output is written).
  const int64_t fs = (int64_t)sizeof(float);
  const Span outputs[] = {{"hOut", a.h_out, B * H * fs},
                          {"cOut", a.c_out, B * H * fs},
                          {"logProbs", a.log_probs, B * V * fs},
                          {"topValues", a.top_values, groups * a.top_k * fs},
                          {"topIndices", a.top_indices, groups * a.top_k * (int64_t)sizeof(int32_t)}};
  const int64_t G = gated::step_gates(w.cell);
  const Span reads[] = {{"weightIh", w.w_ih, G * H * D * fs},
                        {"weightHh", w.w_hh, G * H * H * fs},
                        {"biasIh", w.b_ih, G * H * fs},
                        {"biasHh", w.b_hh, G * H * fs},
                        {"weightPeephole", w.w_peep, 3 * H * fs},
                        {"weightOut", w.w_out, V * H * fs},
                        {"biasOut", w.b_out, V * fs},
                        {"rowScores", a.row_scores, B * fs}};
  for (size_t i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++) {
    for (size_t j = i + 1; j < sizeof(outputs) / sizeof(outputs[0]); j++)
      if (Overlap(outputs[i], outputs[j]))
        Throw(env, kValue, std::string(outputs[j].name) + ": must not overlap " + outputs[i].name);
    for (const Span& r : reads)
      if (Overlap(outputs[i], r))
        Throw(env, kValue, std::string(outputs[i].name) + ": must not overlap " + r.name);
  }
  const bool async = f.Bool("async", false);
  return Dispatch(f, "stepForward", std::move(job), async);
}

}  // namespace

void RegisterStepOps(Napi::Env env, Napi::Object exports) {
  exports.Set("stepCreateCache", Napi::Function::New(env, Guard<CreateCache>, "stepCreateCache"));
  exports.Set("stepCacheInfo", Napi::Function::New(env, Guard<CacheInfo>, "stepCacheInfo"));
  exports.Set("stepForward", Napi::Function::New(env, Guard<Forward>, "stepForward"));
}

}  // namespace gated_binding
