// jordan_binding.cc: the N-API surface of the Jordan network (native/jordan.h), exports.jordan.
//
// Each op takes ONE plain object (the field names lib/nn/jordan.ts sends). Every field is checked
// here with args.h (all properties read first, then checks that cannot run user code); `lengths` is
// copied and checked on the copy (as the cells do), so a change to the JS array during an async call
// cannot send the kernel out of bounds.
//
//   forward {seqLen, batch, inputSize, hiddenSize, outputSize, x [T*B*D], weightIh [H*D],
//       weightHy [H*O], weightHo [O*H], biasIh? [H], biasHh? [H], biasHo? [O], y0? [B*O],
//       lengths? Int32Array [B], reverse (default false), activation 'tanh'|'relu' (default tanh),
//       outputActivation 'tanh'|'sigmoid'|'linear' (default tanh),
//       y [T*B*O] out, yN [B*O] out, h? [T*B*H] out, cache? [T*B*(2*O+H)] out, async}
//   backward {the same inputs (not y0, y, yN, h), cache [T*B*(2*O+H)], dy? [T*B*O], dyN? [B*O],
//       dx [T*B*D] out, dy0 [B*O] out, dWeightIh, dWeightHy, dWeightHo out,
//       dBiasIh? [H], dBiasHh? [H], dBiasHo? [O] out, async}
//   async (default false): false runs the kernel on the calling thread and returns undefined; true
//     returns a Promise resolved (to undefined) once the kernel ran on a libuv worker thread
//     (worker.h: the arrays stay referenced until then and must not be touched by the caller).
// Errors: `code` ERR_GATED_SHAPE / ERR_GATED_VALUE / ERR_GATED_NATIVE, message "<argument>: ..."
// (args.h), thrown (also with async true: arguments are checked before anything is queued).
#include "jordan_binding.h"

#include <napi.h>
#include <stdint.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "args.h"
#include "jordan.h"
#include "worker.h"

namespace gated_binding {
namespace {

// A kernel call with its arguments; args.in.lengths points into `lengths` (or is null).
template <class A, void (*Kernel)(const A&)>
struct JordanJob final : Job {
  A args{};
  std::vector<int32_t> lengths;  // owned copy (checked)
  void Run() override { Kernel(args); }
};

struct Common {
  gated::JordanInputs in;
  std::vector<int32_t>* lengths;  // the job's
};

// The cache (jordan.h: JordanCacheView).
Extent CacheExtent(Napi::Env env, const gated::JordanShape& s) {
  const int64_t width = gated::JordanCacheView<>::width(s.H, s.O);
  return Product(env, "cache", {{"seqLen", s.T}, {"batch", s.B}, {"2*outputSize+hiddenSize", width}});
}

// Reads and checks the inputs shared by forward and backward.
void ReadCommon(Napi::Env env, Fields& f, Common* c) {
  const int64_t T = f.Size("seqLen"), B = f.Size("batch"), D = f.Size("inputSize"), H = f.Size("hiddenSize"),
                O = f.Size("outputSize");
  gated::JordanInputs& in = c->in;
  in.s = {T, B, D, H, O};
  in.x = f.F32("x", Product(env, "x", {{"seqLen", T}, {"batch", B}, {"inputSize", D}}), Presence::Required);
  in.w_ih =
      f.F32("weightIh", Product(env, "weightIh", {{"hiddenSize", H}, {"inputSize", D}}), Presence::Required);
  in.w_hy =
      f.F32("weightHy", Product(env, "weightHy", {{"hiddenSize", H}, {"outputSize", O}}), Presence::Required);
  in.w_ho =
      f.F32("weightHo", Product(env, "weightHo", {{"outputSize", O}, {"hiddenSize", H}}), Presence::Required);
  in.b_ih = f.F32("biasIh", Product(env, "biasIh", {{"hiddenSize", H}}), Presence::Optional);
  in.b_hh = f.F32("biasHh", Product(env, "biasHh", {{"hiddenSize", H}}), Presence::Optional);
  in.b_ho = f.F32("biasHo", Product(env, "biasHo", {{"outputSize", O}}), Presence::Optional);
  f.Lengths("lengths", B, T, c->lengths);
  in.lengths = c->lengths->empty() ? nullptr : c->lengths->data();
  in.reverse = f.Bool("reverse", false);
  in.act = f.Enum("activation", {"tanh", "relu"});
  in.act_out =
      static_cast<gated::JordanOutActivation>(f.Enum("outputActivation", {"tanh", "sigmoid", "linear"}));
  CacheExtent(env, in.s);  // the cache's size must fit as well
}

#define JORDAN_COMMON_FIELDS                                                                           \
  "seqLen", "batch", "inputSize", "hiddenSize", "outputSize", "x", "weightIh", "weightHy", "weightHo", \
      "biasIh", "biasHh", "biasHo", "lengths", "reverse", "activation", "outputActivation"

Napi::Value Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Fields f(env, info[0], {JORDAN_COMMON_FIELDS, "y0", "y", "yN", "h", "cache", "async"});
  auto job = std::make_unique<JordanJob<gated::JordanForwardArgs, gated::jordan_forward>>();
  Common c{{}, &job->lengths};
  ReadCommon(env, f, &c);
  const gated::JordanShape& s = c.in.s;
  gated::JordanForwardArgs& a = job->args;
  a.in = c.in;
  a.y0 = f.F32("y0", Product(env, "y0", {{"batch", s.B}, {"outputSize", s.O}}), Presence::Optional);
  a.y = f.F32("y", Product(env, "y", {{"seqLen", s.T}, {"batch", s.B}, {"outputSize", s.O}}),
              Presence::Required);
  a.y_n = f.F32("yN", Product(env, "yN", {{"batch", s.B}, {"outputSize", s.O}}), Presence::Required);
  a.h = f.F32("h", Product(env, "h", {{"seqLen", s.T}, {"batch", s.B}, {"hiddenSize", s.H}}),
              Presence::Optional);
  a.cache = f.F32("cache", CacheExtent(env, s), Presence::Optional);
  const bool async = f.Bool("async", false);
  return Dispatch(f, "jordanForward", std::move(job), async);
}

Napi::Value Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Fields f(env, info[0],
           {JORDAN_COMMON_FIELDS, "cache", "dy", "dyN", "dx", "dy0", "dWeightIh", "dWeightHy", "dWeightHo",
            "dBiasIh", "dBiasHh", "dBiasHo", "async"});
  auto job = std::make_unique<JordanJob<gated::JordanBackwardArgs, gated::jordan_backward>>();
  Common c{{}, &job->lengths};
  ReadCommon(env, f, &c);
  const gated::JordanShape& s = c.in.s;
  gated::JordanBackwardArgs& a = job->args;
  a.in = c.in;
  a.cache = f.F32("cache", CacheExtent(env, s), Presence::Required);
  a.dy = f.F32("dy", Product(env, "dy", {{"seqLen", s.T}, {"batch", s.B}, {"outputSize", s.O}}),
               Presence::Optional);
  a.dy_n = f.F32("dyN", Product(env, "dyN", {{"batch", s.B}, {"outputSize", s.O}}), Presence::Optional);
  a.dx = f.F32("dx", Product(env, "dx", {{"seqLen", s.T}, {"batch", s.B}, {"inputSize", s.D}}),
               Presence::Required);
  a.dy0 = f.F32("dy0", Product(env, "dy0", {{"batch", s.B}, {"outputSize", s.O}}), Presence::Required);
  a.dw_ih = f.F32("dWeightIh", Product(env, "dWeightIh", {{"hiddenSize", s.H}, {"inputSize", s.D}}),
                  Presence::Required);
  a.dw_hy = f.F32("dWeightHy", Product(env, "dWeightHy", {{"hiddenSize", s.H}, {"outputSize", s.O}}),
                  Presence::Required);
  a.dw_ho = f.F32("dWeightHo", Product(env, "dWeightHo", {{"outputSize", s.O}, {"hiddenSize", s.H}}),
                  Presence::Required);
  a.db_ih = f.F32("dBiasIh", Product(env, "dBiasIh", {{"hiddenSize", s.H}}), Presence::Optional);
  a.db_hh = f.F32("dBiasHh", Product(env, "dBiasHh", {{"hiddenSize", s.H}}), Presence::Optional);
  a.db_ho = f.F32("dBiasHo", Product(env, "dBiasHo", {{"outputSize", s.O}}), Presence::Optional);
  const bool async = f.Bool("async", false);
  return Dispatch(f, "jordanBackward", std::move(job), async);
}

#undef JORDAN_COMMON_FIELDS

}  // namespace

void RegisterJordanOps(Napi::Env env, Napi::Object exports) {
  exports.Set("jordanForward", Napi::Function::New(env, Guard<Forward>, "jordanForward"));
  exports.Set("jordanBackward", Napi::Function::New(env, Guard<Backward>, "jordanBackward"));
}

}  // namespace gated_binding
