// jordan_binding.h: the Jordan network's part of the addon (jordan_binding.cc). binding.cc's Init
// calls RegisterJordanOps(env, exports) once, which adds its ops to exports.
#pragma once
#include <napi.h>

namespace gated_binding {

// Adds exports.jordanForward and exports.jordanBackward.
void RegisterJordanOps(Napi::Env env, Napi::Object exports);

}  // namespace gated_binding
