// The 8-bit-activation row kernels of ggml_q8.h (`precision: 'fast'`): the portable one (scalar level and the
// definition in C++ of src/kernels/reference/q8-activations.ts), AVX2 (maddubs) and AVX-512 VNNI (vpdpbusd). Each
// level computes the same exact int32 block sums and the same float32 operations in the same order, so all levels
// (and the TypeScript reference) give the same bits.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cmath>
#include <cstdint>
#include <vector>

#include "cpu.h"
#include "ggml_blocks.h"
#include "ggml_q8.h"

namespace mimo {

bool ggmlQ8ActType(int type) { return type == kQ4_0 || type == kQ5_0 || type == kQ8_0 || type == kIQ4_NL || type == kMXFP4; }

namespace {

// Nearest integer, ties to even (the default rounding mode, as cvtps2dq), clamped to [−127, 127].
inline int8_t q8Code(float v) {
  float r = std::nearbyint(v);
  if (r > 127.0f) r = 127.0f;
  if (r < -127.0f) r = -127.0f;
  return static_cast<int8_t>(r);
}

void quantizePortable(const float* x, int T, int K, int8_t* xq, float* xd) {
  const size_t n = static_cast<size_t>(T) * K;
  for (size_t o = 0; o < n; o += 32) {
    float amax = 0.0f;
    for (int i = 0; i < 32; i++) amax = std::max(amax, std::fabs(x[o + i]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    xd[o / 32] = d;
    for (int i = 0; i < 32; i++) xq[o + i] = q8Code(x[o + i] * id);
  }
}

float rowDotPortable(int type, const uint8_t* row, const int8_t* xq, const float* xd, int nb) {
  int e = 32, bytes = 0;
  ggmlBlockGeometry(type, &e, &bytes);
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int b = 0; b < nb; b++) {
    const uint8_t* p = row + static_cast<size_t>(b) * bytes;
    int8_t q[32];
    float s[2], bias[2];
    groupCodes(type, p, 0, q);
    groupScales<HalfPortable>(type, p, 0, s, bias);
    int32_t sumi = 0;
    for (int i = 0; i < 32; i++) sumi += static_cast<int32_t>(q[i]) * xq[32 * b + i];
    const float scale = s[0] * xd[b];
    const float term = static_cast<float>(sumi) * scale;
    acc[b & 7] = acc[b & 7] + term;
  }
  return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

}  // namespace

void ggmlQ8MatmulRowsScalar(const MatmulArgs& a, int r0, int r1) {
  const int K = a.w.cols, N = a.w.rows, T = a.T, nb = K / 32;
  static thread_local std::vector<int8_t> xq;
  static thread_local std::vector<float> xd;
  const size_t n = static_cast<size_t>(T) * K;
  if (xq.size() < n) xq.resize(n);
  if (xd.size() < n / 32) xd.resize(n / 32);
  quantizePortable(a.x, T, K, xq.data(), xd.data());
  const size_t rowBytes = ggmlRowBytes(a.w.ggmlType, K);
  for (int r = r0; r < r1; r++) {
    const uint8_t* row = static_cast<const uint8_t*>(a.w.data) + static_cast<size_t>(r) * rowBytes;
    for (int t = 0; t < T; t++)
      a.y[static_cast<size_t>(t) * N + r] = rowDotPortable(a.w.ggmlType, row, xq.data() + static_cast<size_t>(t) * K, xd.data() + static_cast<size_t>(t) * nb, nb);
  }
}

}  // namespace mimo

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

#include "ggml_simd.h"

namespace mimo {
namespace {
namespace q8avx2 {
#define Q8_DOT32(ax, sy) _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1))
#include "ggml_q8_rows.inc"
#undef Q8_DOT32
}  // namespace q8avx2
}  // namespace

void ggmlQ8MatmulRowsAvx2(const MatmulArgs& a, int r0, int r1) { q8avx2::rows(a, r0, r1); }

}  // namespace mimo

#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")

namespace mimo {
namespace {
namespace q8vnni {
#define Q8_DOT32(ax, sy) _mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, sy)
#include "ggml_q8_rows.inc"
#undef Q8_DOT32
}  // namespace q8vnni
}  // namespace

void ggmlQ8MatmulRowsAvx512(const MatmulArgs& a, int r0, int r1) {
  if (cpuFeatures().avx512vnni) q8vnni::rows(a, r0, r1);
  else ggmlQ8MatmulRowsAvx2(a, r0, r1);
}

}  // namespace mimo

#pragma GCC pop_options
