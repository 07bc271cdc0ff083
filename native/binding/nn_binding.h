// nn_binding.h: the layer kernels' part of the addon (nn_binding.cc). binding.cc's Init calls
// RegisterNnOps(env, exports) once, which adds its ops to exports.
#pragma once
#include <napi.h>

namespace gated_binding {

// Adds exports.linearForward, linearBackward, embeddingForward, embeddingBackward.
void RegisterNnOps(Napi::Env env, Napi::Object exports);

}  // namespace gated_binding
