// CPU feature detection through GCC's cpu indicator (which also checks that the OS saves AVX/AVX-512 state).
#include "cpu.h"

#include <atomic>
#include <cstring>
#include <initializer_list>

namespace mimo {

const CpuFeatures& cpuFeatures() {
  static const CpuFeatures f = [] {
    __builtin_cpu_init();
    CpuFeatures c{};
    c.avx512f = __builtin_cpu_supports("avx512f");
    c.avx512bw = __builtin_cpu_supports("avx512bw");
    c.avx512vl = __builtin_cpu_supports("avx512vl");
    c.avx512dq = __builtin_cpu_supports("avx512dq");
    c.avx512bf16 = __builtin_cpu_supports("avx512bf16");
    c.avx512vbmi = __builtin_cpu_supports("avx512vbmi");
    c.avx512vnni = __builtin_cpu_supports("avx512vnni");
    c.avx2 = __builtin_cpu_supports("avx2");
    c.fma = __builtin_cpu_supports("fma");
    c.f16c = __builtin_cpu_supports("f16c");
    return c;
  }();
  return f;
}

bool levelSupported(Level level, const char** missing) {
  const CpuFeatures& f = cpuFeatures();
  struct Need { bool have; const char* name; };
  const Need avx2[] = {{f.avx2, "avx2"}, {f.fma, "fma"}, {f.f16c, "f16c"}};
  const Need avx512[] = {{f.avx512f, "avx512f"}, {f.avx512bw, "avx512bw"}, {f.avx512vl, "avx512vl"}, {f.avx512dq, "avx512dq"}};
  if (level == Level::Scalar) return true;
  for (const Need& n : avx2) {
    if (!n.have) { if (missing) *missing = n.name; return false; }
  }
  if (level == Level::Avx2) return true;
  for (const Need& n : avx512) {
    if (!n.have) { if (missing) *missing = n.name; return false; }
  }
  if (level == Level::Avx512) return true;
  const Need bf16[] = {{f.avx512bf16, "avx512bf16"}, {f.avx512vbmi, "avx512vbmi"}};
  for (const Need& n : bf16) {
    if (!n.have) { if (missing) *missing = n.name; return false; }
  }
  return true;
}

Level bestLevel() {
  if (levelSupported(Level::Avx512Bf16, nullptr)) return Level::Avx512Bf16;
  if (levelSupported(Level::Avx512, nullptr)) return Level::Avx512;
  if (levelSupported(Level::Avx2, nullptr)) return Level::Avx2;
  return Level::Scalar;
}

static std::atomic<int> g_level{-1};

Level currentLevel() {
  int l = g_level.load(std::memory_order_relaxed);
  if (l < 0) {
    l = static_cast<int>(bestLevel());
    g_level.store(l, std::memory_order_relaxed);
  }
  return static_cast<Level>(l);
}

void setLevel(Level level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }

const char* levelName(Level level) {
  switch (level) {
    case Level::Avx512Bf16: return "avx512bf16";
    case Level::Avx512: return "avx512";
    case Level::Avx2: return "avx2";
    case Level::Scalar: return "scalar";
  }
  return "scalar";
}

bool parseLevel(const char* name, Level* out) {
  for (Level l : {Level::Avx512Bf16, Level::Avx512, Level::Avx2, Level::Scalar}) {
    if (std::strcmp(name, levelName(l)) == 0) { *out = l; return true; }
  }
  return false;
}

}  // namespace mimo
