// CPU feature detection and the run-time dispatch level (AVX-512 with BF16 dot products, AVX-512, AVX2+FMA, scalar).
#pragma once
#include "common.h"

namespace mimo {

struct CpuFeatures {
  bool avx512f, avx512bw, avx512vl, avx512dq, avx512bf16, avx512vbmi, avx512vnni, avx2, fma, f16c;
};

const CpuFeatures& cpuFeatures();
// Best level this CPU (and OS) supports.
Level bestLevel();
// True when `level` can run here; otherwise writes the missing feature's name to *missing.
bool levelSupported(Level level, const char** missing);
Level currentLevel();
void setLevel(Level level);  // caller checks levelSupported first
const char* levelName(Level level);
bool parseLevel(const char* name, Level* out);

}  // namespace mimo
