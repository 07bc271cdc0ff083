// nn_binding.cc: the N-API surface of the layer kernels (native/nn.h), exports.nn.
//
// Each op takes ONE plain object (field names below, the same as lib/nn/kernels.ts sends). Every
// field is checked here again with args.h (all properties read first, then checks that cannot run
// user code): a wrong length or an id outside the vocabulary would be an out-of-bounds access here,
// not an exception. `ids` is copied and checked on the copy, so a change to the JS array during an
// async call cannot send the kernel out of bounds.
//
//   linearForward {rows, inFeatures, outFeatures, x [rows*in], weight [out*in], bias? [out],
//       y [rows*out] out, async}
//   linearBackward {rows, inFeatures, outFeatures, x, weight, dy [rows*out], dx? [rows*in] out,
//       dWeight [out*in] in/out, dBias? [out] in/out, accumulate (default false), async}
//   embeddingForward {rows, vocabSize, dim, ids Int32Array [rows], weight [vocabSize*dim],
//       paddingIndex (integer in [-1, vocabSize), -1: none; default -1), out [rows*dim] out, async}
//   embeddingBackward {rows, vocabSize, dim, ids, dy [rows*dim], paddingIndex,
//       dWeight [vocabSize*dim] in/out, accumulate (default false), async}
//   async (default false): false runs the kernel on the calling thread and returns undefined; true
//     returns a Promise resolved (to undefined) once the kernel ran on a libuv worker thread
//     (worker.h: the arrays stay referenced until then and must not be touched by the caller).
// Errors: `code` ERR_GATED_SHAPE / ERR_GATED_VALUE / ERR_GATED_NATIVE, message "<argument>: ..."
// (args.h), thrown (also with async true: arguments are checked before anything is queued); an id
// outside [0, vocabSize) is ERR_GATED_VALUE naming `ids`.
#include "nn_binding.h"

#include <napi.h>
#include <stdint.h>

#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "args.h"
#include "nn.h"
#include "worker.h"

namespace gated_binding {
namespace {

// paddingIndex: an integer in [-1, vocabSize); undefined or null: -1 (none).
int64_t PaddingIndex(const Fields& f, int64_t V) {
  Napi::Value v = f.Get("paddingIndex");
  if (v.IsUndefined() || v.IsNull()) return -1;
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!v.IsNumber() || !(d >= -1 && d < (double)V) || std::floor(d) != d) {
    Throw(f.Env(), kValue,
          "paddingIndex: expected an integer in [-1, vocabSize = " + std::to_string(V) + "), got " +
              Describe(v));
  }
  return (int64_t)d;
}

// Every id indexes a row of the weight: one outside [0, V) would read or write out of bounds.
// Checked on the job's copy (Fields::Int32Copy), which is what the kernel reads.
void CheckIds(Napi::Env env, const std::vector<int32_t>& ids, int64_t V) {
  for (size_t n = 0; n < ids.size(); n++) {
    if (ids[n] < 0 || (int64_t)ids[n] >= V) {
      Throw(env, kValue,
            "ids: ids[" + std::to_string(n) + "] = " + std::to_string(ids[n]) +
                " is outside [0, vocabSize = " + std::to_string(V) + ")");
    }
  }
}

// Non-null pointer to the job's ids (never read when there are none).
const int32_t* IdsData(const std::vector<int32_t>& ids) {
  return ids.empty() ? reinterpret_cast<const int32_t*>(g_empty_floats) : ids.data();
}

struct LinearForwardJob final : Job {
  const float *x, *W, *b;
  float* y;
  int64_t N, in, out;
  void Run() override { gated::linear_forward(x, W, b, N, in, out, y); }
};

struct LinearBackwardJob final : Job {
  const float *x, *W, *dy;
  float *dx, *dW, *db;
  int64_t N, in, out;
  bool accumulate;
  void Run() override { gated::linear_backward(x, W, dy, N, in, out, dx, dW, db, accumulate); }
};

struct EmbeddingForwardJob final : Job {
  std::vector<int32_t> ids;  // owned copy (checked)
  const float* W;
  float* out;
  int64_t N, V, E, pad;
  void Run() override { gated::embedding_forward(IdsData(ids), W, N, V, E, pad, out); }
};

struct EmbeddingBackwardJob final : Job {
  std::vector<int32_t> ids;  // owned copy (checked)
  const float* dy;
  float* dW;
  int64_t N, V, E, pad;
  bool accumulate;
  void Run() override { gated::embedding_backward(IdsData(ids), dy, N, V, E, pad, dW, accumulate); }
};

Napi::Value LinearForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Fields f(env, info[0], {"rows", "inFeatures", "outFeatures", "x", "weight", "bias", "y", "async"});
  auto job = std::make_unique<LinearForwardJob>();
  const int64_t N = f.Size("rows"), in = f.Size("inFeatures"), out = f.Size("outFeatures");
  job->x = f.F32("x", Product(env, "x", {{"rows", N}, {"inFeatures", in}}), Presence::Required);
  job->W =
      f.F32("weight", Product(env, "weight", {{"outFeatures", out}, {"inFeatures", in}}), Presence::Required);
  job->b = f.F32("bias", Product(env, "bias", {{"outFeatures", out}}), Presence::Optional);
  job->y = f.F32("y", Product(env, "y", {{"rows", N}, {"outFeatures", out}}), Presence::Required);
  job->N = N;
  job->in = in;
  job->out = out;
  const bool async = f.Bool("async", false);
  return Dispatch(f, "linearForward", std::move(job), async);
}

Napi::Value LinearBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Fields f(env, info[0],
           {"rows", "inFeatures", "outFeatures", "x", "weight", "dy", "dx", "dWeight", "dBias", "accumulate",
            "async"});
  auto job = std::make_unique<LinearBackwardJob>();
  const int64_t N = f.Size("rows"), in = f.Size("inFeatures"), out = f.Size("outFeatures");
  const Extent xe = Product(env, "x", {{"rows", N}, {"inFeatures", in}});
  const Extent we = Product(env, "weight", {{"outFeatures", out}, {"inFeatures", in}});
  job->x = f.F32("x", xe, Presence::Required);
  job->W = f.F32("weight", we, Presence::Required);
  job->dy = f.F32("dy", Product(env, "dy", {{"rows", N}, {"outFeatures", out}}), Presence::Required);
  job->dx = f.F32("dx", Product(env, "dx", {{"rows", N}, {"inFeatures", in}}), Presence::Optional);
  job->dW = f.F32("dWeight", Product(env, "dWeight", {{"outFeatures", out}, {"inFeatures", in}}),
                  Presence::Required);
  job->db = f.F32("dBias", Product(env, "dBias", {{"outFeatures", out}}), Presence::Optional);
  job->accumulate = f.Bool("accumulate", false);
  job->N = N;
  job->in = in;
  job->out = out;
  const bool async = f.Bool("async", false);
  return Dispatch(f, "linearBackward", std::move(job), async);
}

Napi::Value EmbeddingForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Fields f(env, info[0], {"rows", "vocabSize", "dim", "ids", "weight", "paddingIndex", "out", "async"});
  auto job = std::make_unique<EmbeddingForwardJob>();
  const int64_t N = f.Size("rows"), V = f.Size("vocabSize"), E = f.Size("dim");
  f.Int32Copy("ids", Product(env, "ids", {{"rows", N}}), &job->ids);
  job->W = f.F32("weight", Product(env, "weight", {{"vocabSize", V}, {"dim", E}}), Presence::Required);
  job->pad = PaddingIndex(f, V);
  job->out = f.F32("out", Product(env, "out", {{"rows", N}, {"dim", E}}), Presence::Required);
  const bool async = f.Bool("async", false);
  CheckIds(env, job->ids, V);
  job->N = N;
  job->V = V;
  job->E = E;
  return Dispatch(f, "embeddingForward", std::move(job), async);
}

Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Fields f(env, info[0],
           {"rows", "vocabSize", "dim", "ids", "dy", "paddingIndex", "dWeight", "accumulate", "async"});
  auto job = std::make_unique<EmbeddingBackwardJob>();
  const int64_t N = f.Size("rows"), V = f.Size("vocabSize"), E = f.Size("dim");
  f.Int32Copy("ids", Product(env, "ids", {{"rows", N}}), &job->ids);
  job->dy = f.F32("dy", Product(env, "dy", {{"rows", N}, {"dim", E}}), Presence::Required);
  job->pad = PaddingIndex(f, V);
  job->dW = f.F32("dWeight", Product(env, "dWeight", {{"vocabSize", V}, {"dim", E}}), Presence::Required);
  job->accumulate = f.Bool("accumulate", false);
  const bool async = f.Bool("async", false);
  CheckIds(env, job->ids, V);
  job->N = N;
  job->V = V;
  job->E = E;
  return Dispatch(f, "embeddingBackward", std::move(job), async);
}

}  // namespace

void RegisterNnOps(Napi::Env env, Napi::Object exports) {
  exports.Set("linearForward", Napi::Function::New(env, Guard<LinearForward>, "linearForward"));
  exports.Set("linearBackward", Napi::Function::New(env, Guard<LinearBackward>, "linearBackward"));
  exports.Set("embeddingForward", Napi::Function::New(env, Guard<EmbeddingForward>, "embeddingForward"));
  exports.Set("embeddingBackward", Napi::Function::New(env, Guard<EmbeddingBackward>, "embeddingBackward"));
}

}  // namespace gated_binding
