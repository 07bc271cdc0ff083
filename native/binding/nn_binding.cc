// nn_binding.cc: the N-API surface of the layer kernels (native/nn.h), exports.nn.
//
// Each op takes ONE plain object (field names below, the same as lib/nn/kernels.ts sends) and runs
// synchronously: one GEMM or one gather over a layer's rows is short next to a sequence's BPTT,
// which is what the async workers exist for. Every field is checked here again with args.h (all
// properties read first, then checks that cannot run user code): a wrong length or an id outside
// the vocabulary would be an out-of-bounds access here, not an exception.
//
//   linearForward {rows, inFeatures, outFeatures, x [rows*in], weight [out*in], bias? [out],
//       y [rows*out] out}
//   linearBackward {rows, inFeatures, outFeatures, x, weight, dy [rows*out], dx? [rows*in] out,
//       dWeight [out*in] in/out, dBias? [out] in/out, accumulate (default false)}
//   embeddingForward {rows, vocabSize, dim, ids Int32Array [rows], weight [vocabSize*dim],
//       paddingIndex (integer in [-1, vocabSize), -1: none; default -1), out [rows*dim] out}
//   embeddingBackward {rows, vocabSize, dim, ids, dy [rows*dim], paddingIndex,
//       dWeight [vocabSize*dim] in/out, accumulate (default false)}
// Errors: `code` ERR_GATED_SHAPE / ERR_GATED_VALUE / ERR_GATED_NATIVE, message "<argument>: ..."
// (args.h); an id outside [0, vocabSize) is ERR_GATED_VALUE naming `ids`.
#include "nn_binding.h"

#include <napi.h>
#include <stdint.h>

#include <cmath>
#include <exception>
#include <string>

#include "args.h"
#include "nn.h"

namespace gated_binding {
namespace {

// An Int32Array of exactly e.value elements (non-null data pointer even when empty).
const int32_t* Int32s(const Fields& f, const char* name, const Extent& e) {
  Napi::Value v = f.Get(name);
  std::string expect = std::string(name) + ": expected an Int32Array of length " + std::to_string(e.value) +
                       " (" + e.formula + ")";
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    Throw(f.Env(), kValue, expect + ", got " + Describe(v));
  }
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  if (a.ArrayBuffer().IsDetached()) Throw(f.Env(), kValue, expect + ", got one whose ArrayBuffer is detached");
  if ((uint64_t)a.ElementLength() != (uint64_t)e.value) {
    Throw(f.Env(), kShape, expect + ", got " + std::to_string(a.ElementLength()));
  }
  const int32_t* p = a.Data();
  return p ? p : reinterpret_cast<const int32_t*>(g_empty_floats);
}

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
void CheckIds(Napi::Env env, const int32_t* ids, int64_t N, int64_t V) {
  for (int64_t n = 0; n < N; n++) {
    if (ids[n] < 0 || (int64_t)ids[n] >= V) {
      Throw(env, kValue,
            "ids: ids[" + std::to_string(n) + "] = " + std::to_string(ids[n]) +
                " is outside [0, vocabSize = " + std::to_string(V) + ")");
    }
  }
}

Napi::Value LinearForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Fields f(env, info[0], {"rows", "inFeatures", "outFeatures", "x", "weight", "bias", "y"});
  const int64_t N = f.Size("rows"), in = f.Size("inFeatures"), out = f.Size("outFeatures");
  const float* x = f.F32("x", Product(env, "x", {{"rows", N}, {"inFeatures", in}}), Presence::Required);
  const float* W = f.F32("weight", Product(env, "weight", {{"outFeatures", out}, {"inFeatures", in}}),
                         Presence::Required);
  const float* b = f.F32("bias", Product(env, "bias", {{"outFeatures", out}}), Presence::Optional);
  float* y = f.F32("y", Product(env, "y", {{"rows", N}, {"outFeatures", out}}), Presence::Required);
  gated::linear_forward(x, W, b, N, in, out, y);
  return env.Undefined();
}

Napi::Value LinearBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Fields f(env, info[0],
           {"rows", "inFeatures", "outFeatures", "x", "weight", "dy", "dx", "dWeight", "dBias",
            "accumulate"});
  const int64_t N = f.Size("rows"), in = f.Size("inFeatures"), out = f.Size("outFeatures");
  const Extent xe = Product(env, "x", {{"rows", N}, {"inFeatures", in}});
  const Extent we = Product(env, "weight", {{"outFeatures", out}, {"inFeatures", in}});
  const float* x = f.F32("x", xe, Presence::Required);
  const float* W = f.F32("weight", we, Presence::Required);
  const float* dy = f.F32("dy", Product(env, "dy", {{"rows", N}, {"outFeatures", out}}), Presence::Required);
  float* dx = f.F32("dx", Product(env, "dx", {{"rows", N}, {"inFeatures", in}}), Presence::Optional);
  float* dW = f.F32("dWeight", Product(env, "dWeight", {{"outFeatures", out}, {"inFeatures", in}}),
                    Presence::Required);
  float* db = f.F32("dBias", Product(env, "dBias", {{"outFeatures", out}}), Presence::Optional);
  const bool accumulate = f.Bool("accumulate", false);
  gated::linear_backward(x, W, dy, N, in, out, dx, dW, db, accumulate);
  return env.Undefined();
}

Napi::Value EmbeddingForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Fields f(env, info[0], {"rows", "vocabSize", "dim", "ids", "weight", "paddingIndex", "out"});
  const int64_t N = f.Size("rows"), V = f.Size("vocabSize"), E = f.Size("dim");
  const int32_t* ids = Int32s(f, "ids", Product(env, "ids", {{"rows", N}}));
  const float* W = f.F32("weight", Product(env, "weight", {{"vocabSize", V}, {"dim", E}}), Presence::Required);
  const int64_t pad = PaddingIndex(f, V);
  float* out = f.F32("out", Product(env, "out", {{"rows", N}, {"dim", E}}), Presence::Required);
  CheckIds(env, ids, N, V);
  gated::embedding_forward(ids, W, N, V, E, pad, out);
  return env.Undefined();
}

Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Fields f(env, info[0], {"rows", "vocabSize", "dim", "ids", "dy", "paddingIndex", "dWeight", "accumulate"});
  const int64_t N = f.Size("rows"), V = f.Size("vocabSize"), E = f.Size("dim");
  const int32_t* ids = Int32s(f, "ids", Product(env, "ids", {{"rows", N}}));
  const float* dy = f.F32("dy", Product(env, "dy", {{"rows", N}, {"dim", E}}), Presence::Required);
  const int64_t pad = PaddingIndex(f, V);
  float* dW = f.F32("dWeight", Product(env, "dWeight", {{"vocabSize", V}, {"dim", E}}), Presence::Required);
  const bool accumulate = f.Bool("accumulate", false);
  CheckIds(env, ids, N, V);
  gated::embedding_backward(ids, dy, N, V, E, pad, dW, accumulate);
  return env.Undefined();
}


}  // namespace

void RegisterNnOps(Napi::Env env, Napi::Object exports) {
  Napi::Object nn = Napi::Object::New(env);
  nn.Set("linearForward", Napi::Function::New(env, Guard<LinearForward>, "linearForward"));
  nn.Set("linearBackward", Napi::Function::New(env, Guard<LinearBackward>, "linearBackward"));
  nn.Set("embeddingForward", Napi::Function::New(env, Guard<EmbeddingForward>, "embeddingForward"));
  nn.Set("embeddingBackward", Napi::Function::New(env, Guard<EmbeddingBackward>, "embeddingBackward"));
  exports.Set("nn", nn);
}

}  // namespace gated_binding
