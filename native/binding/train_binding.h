// train_binding.h: the training ops' part of the addon (train_binding.cc). binding.cc's Init calls
// RegisterTrainOps(env, exports) once, which adds its ops to exports.
#pragma once
#include <napi.h>

namespace gated_binding {

// Adds to exports: { softmaxCrossEntropy, bceWithLogits, mse, sgdStep, adamStep, rmspropStep,
// clipGradNorm, clipGradValue }.
void RegisterTrainOps(Napi::Env env, Napi::Object exports);

}  // namespace gated_binding
