{
  "targets": [
    {
      "target_name": "mimo_native",
      "sources": [
        "native/src/addon.cc",
        "native/src/attention.cc",
        "native/src/bandwidth.cc",
        "native/src/cpu.cc",
        "native/src/elementwise.cc",
        "native/src/kernels_avx2.cc",
        "native/src/kernels_avx2_ggml.cc",
        "native/src/kernels_avx512.cc",
        "native/src/kernels_avx512_ggml.cc",
        "native/src/kernels_avx512bf16.cc",
        "native/src/kernels_ggml_q8.cc",
        "native/src/kernels_scalar.cc",
        "native/src/matmul.cc",
        "native/src/mmap_file.cc",
        "native/src/moe.cc",
        "native/src/quantize.cc",
        "native/src/thread_pool.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags": ["-O3", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-fno-math-errno", "-ffp-contract=off", "-fvisibility=hidden"],
      "ldflags": ["-pthread"]
    }
  ]
}
