{
  "targets": [
    {
      "target_name": "gated",
      "sources": [
        "native/dispatch.cc",
        "native/isa_scalar.cc",
        "native/isa_avx2.cc",
        "native/isa_avx512.cc",
        "native/isa_neon.cc",
        "native/gemm.cc",
        "native/pool.cc",
        "native/rnn.cc",
        "native/lstm.cc",
        "native/gru.cc",
        "native/gru_reset_after.cc",
        "native/gru_reset_before.cc",
        "native/loss.cc",
        "native/optim.cc",
        "native/nn.cc",
        "native/jordan.cc",
        "native/step.cc",
        "native/norm.cc",
        "native/attention.cc",
        "native/binding/binding.cc",
        "native/binding/train_binding.cc",
        "native/binding/nn_binding.cc",
        "native/binding/jordan_binding.cc",
        "native/binding/step_binding.cc",
        "native/binding/norm_binding.cc",
        "native/binding/attention_binding.cc",
        "native/binding/worker.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags": ["-O3", "-fno-math-errno", "-fvisibility=hidden"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O3", "-fno-math-errno", "-fvisibility=hidden"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-fno-math-errno"]
      },
      "msvs_settings": { "VCCLCompilerTool": { "ExceptionHandling": 1 } }
    }
  ]
}
