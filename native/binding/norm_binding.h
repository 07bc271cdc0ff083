// norm_binding.h: the normalization ops' part of the addon (norm_binding.cc). binding.cc's Init calls
// RegisterNormOps(env, exports) once, which adds its ops to exports.
#pragma once
#include <napi.h>

namespace gated_binding {

// Adds exports.layerNormForward and exports.layerNormBackward.
void RegisterNormOps(Napi::Env env, Napi::Object exports);

}  // namespace gated_binding
