// attention_binding.h: the fused attention decoder's part of the addon (attention_binding.cc).
// binding.cc's Init calls RegisterAttentionOps(env, exports) once.
#pragma once
#include <napi.h>

namespace gated_binding {

// Adds exports.attnDecoderForward, exports.attnDecoderBackward and exports.attnDecoderCacheSize.
void RegisterAttentionOps(Napi::Env env, Napi::Object exports);

}  // namespace gated_binding
