// norm_binding.cc: the N-API surface of layer normalization (native/norm.h). Each op takes ONE plain
// object (the fields lib/ops/nn.ts sends), checked here again with args.h:
//
//   layerNormForward {rows, features, x [rows*features], weight? [features], bias? [features],
//       eps (finite, > 0), y [rows*features] out, mean [rows] out, rstd [rows] out, async}
//   layerNormBackward {rows, features, x, weight?, mean [rows], rstd [rows], dy [rows*features],
//       dx [rows*features] out, dWeight? [features] in/out, dBias? [features] in/out, async}
//
// async as every op (worker.h); errors: ERR_GATED_SHAPE / ERR_GATED_VALUE naming the argument.
#include "norm_binding.h"

#include <memory>
#include <utility>

#include "args.h"
#include "norm.h"
#include "worker.h"

namespace gated_binding {
namespace {

struct LayerNormForwardJob final : Job {
  const float *x, *gamma, *beta;
  float *y, *mean, *rstd;
  int64_t N, F;
  float eps;
  void Run() override { gated::layer_norm_forward(x, gamma, beta, N, F, eps, y, mean, rstd); }
};

struct LayerNormBackwardJob final : Job {
  const float *x, *gamma, *mean, *rstd, *dy;
  float *dx, *dgamma, *dbeta;
  int64_t N, F;
  void Run() override { gated::layer_norm_backward(x, gamma, mean, rstd, dy, N, F, dx, dgamma, dbeta); }
};

Napi::Value LayerNormForward(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Fields f(env, info[0], {"rows", "features", "x", "weight", "bias", "eps", "y", "mean", "rstd", "async"});
  auto job = std::make_unique<LayerNormForwardJob>();
  const int64_t N = f.Size("rows"), F = f.Size("features");
  const Extent xe = Product(env, "x", {{"rows", N}, {"features", F}});
  const Extent fe = Product(env, "weight", {{"features", F}});
  const Extent re = Product(env, "mean", {{"rows", N}});
  job->x = f.F32("x", xe, Presence::Required);
  job->gamma = f.F32("weight", fe, Presence::Optional);
  job->beta = f.F32("bias", fe, Presence::Optional);
  job->eps = (float)Real(f, "eps", 1e-5, 0, false, 1, true);
  job->y = f.F32("y", xe, Presence::Required);
  job->mean = f.F32("mean", re, Presence::Required);
  job->rstd = f.F32("rstd", re, Presence::Required);
  job->N = N;
  job->F = F;
  return Dispatch(f, "layerNormForward", std::move(job), f.Bool("async", false));
}

Napi::Value LayerNormBackward(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Fields f(env, info[0],
           {"rows", "features", "x", "weight", "mean", "rstd", "dy", "dx", "dWeight", "dBias", "async"});
  auto job = std::make_unique<LayerNormBackwardJob>();
  const int64_t N = f.Size("rows"), F = f.Size("features");
  const Extent xe = Product(env, "x", {{"rows", N}, {"features", F}});
  const Extent fe = Product(env, "weight", {{"features", F}});
  const Extent re = Product(env, "mean", {{"rows", N}});
  job->x = f.F32("x", xe, Presence::Required);
  job->gamma = f.F32("weight", fe, Presence::Optional);
  job->mean = f.F32("mean", re, Presence::Required);
  job->rstd = f.F32("rstd", re, Presence::Required);
  job->dy = f.F32("dy", xe, Presence::Required);
  job->dx = f.F32("dx", xe, Presence::Required);
  job->dgamma = f.F32("dWeight", fe, Presence::Optional);
  job->dbeta = f.F32("dBias", fe, Presence::Optional);
  job->N = N;
  job->F = F;
  return Dispatch(f, "layerNormBackward", std::move(job), f.Bool("async", false));
}

}  // namespace

void RegisterNormOps(Napi::Env env, Napi::Object exports) {
  exports.Set("layerNormForward", Napi::Function::New(env, Guard<LayerNormForward>, "layerNormForward"));
  exports.Set("layerNormBackward", Napi::Function::New(env, Guard<LayerNormBackward>, "layerNormBackward"));
}

}  // namespace gated_binding
