// step_binding.h: the decode step's part of the addon (step_binding.cc). binding.cc's Init calls
// RegisterStepOps(env, exports) once.
#pragma once
#include <napi.h>

namespace gated_binding {

// Adds exports.stepCreateCache, exports.stepCacheInfo and exports.stepForward.
void RegisterStepOps(Napi::Env env, Napi::Object exports);

}  // namespace gated_binding
