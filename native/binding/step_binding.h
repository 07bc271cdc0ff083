// step_binding.h: the decode step's part of the addon (step_binding.cc). binding.cc's Init calls
// RegisterStepOps(env, exports) once, which sets exports.step.
#pragma once
#include <napi.h>

namespace gated_binding {

// Adds exports.step = { createCache, cacheInfo, forward }.
void RegisterStepOps(Napi::Env env, Napi::Object exports);

}  // namespace gated_binding
