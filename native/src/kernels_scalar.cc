// Portable scalar kernels (any x86-64, no FMA): the fallback level and the baseline the SIMD levels are tested
// beside. Each weight row (GGUF block formats too, ggml_blocks.h) is dequantised to f32 once per call into a per-thread buffer, then dotted with every token.
#include <cmath>
#include <cstring>
#include <vector>

#include "ggml_blocks.h"
#include "ggml_q8.h"
#include "kernels.h"
#include "mxfp4.h"

namespace mimo {
namespace {

// Exact IEEE half → float (subnormals, infinities, NaN).
float halfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t e = (h >> 10) & 0x1F;
  const uint32_t m = h & 0x3FF;
  float v;
  if (e == 0) {
    v = std::ldexp(static_cast<float>(m), -24);
  } else if (e == 31) {
    v = m ? NAN : INFINITY;
  } else {
    uint32_t bits = ((e + 112) << 23) | (m << 13);
    std::memcpy(&v, &bits, 4);
  }
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  bits |= sign;
  std::memcpy(&v, &bits, 4);
  return v;
}

struct Fp8Table {
  float v[256];
  Fp8Table() {
    for (int b = 0; b < 256; b++) {
      const int e = (b >> 3) & 15;
      const int m = b & 7;
      float a = e == 15 && m == 7 ? NAN : e == 0 ? std::ldexp(m / 8.0f, -6) : std::ldexp(1.0f + m / 8.0f, e - 7);
      v[b] = (b & 0x80) ? -a : a;
    }
  }
};
const Fp8Table& fp8Table() {
  static const Fp8Table t;
  return t;
}

void decodeRow(const WeightView& w, int r, float* out) {
  const int K = w.cols;
  const size_t base = static_cast<size_t>(r) * K;
  switch (w.dtype) {
    case WDType::F32:
      std::memcpy(out, static_cast<const float*>(w.data) + base, sizeof(float) * K);
      break;
    case WDType::BF16: {
      const uint16_t* p = static_cast<const uint16_t*>(w.data) + base;
      for (int c = 0; c < K; c++) {
        const uint32_t bits = static_cast<uint32_t>(p[c]) << 16;
        std::memcpy(out + c, &bits, 4);
      }
      break;
    }
    case WDType::F16: {
      const uint16_t* p = static_cast<const uint16_t*>(w.data) + base;
      for (int c = 0; c < K; c++) out[c] = halfToFloat(p[c]);
      break;
    }
    case WDType::FP8: {
      const uint8_t* p = static_cast<const uint8_t*>(w.data) + base;
      const float* srow = w.scales + static_cast<size_t>(w.rowScale[r]) * w.scaleCols;
      const float* table = fp8Table().v;
      for (int c = 0; c < K; c++) out[c] = table[p[c]] * srow[c / w.blockCols];
      break;
    }
    case WDType::MXFP4:
      decodeMxfp4(static_cast<const uint8_t*>(w.data), w.e8m0, K, r, 0, K, out);
      break;
    case WDType::GGML: {
      const uint8_t* row = static_cast<const uint8_t*>(w.data) + static_cast<size_t>(r) * ggmlRowBytes(w.ggmlType, K);
      for (int g = 0; g < K / kGgmlGroup; g++) decodeGgmlGroup<HalfPortable>(w.ggmlType, row, g, out + kGgmlGroup * g);
      break;
    }
  }
}

float dot(const float* a, const float* b, int n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; i++) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

void matmulRows(const MatmulArgs& a, int r0, int r1) {
  if (a.w.dtype == WDType::GGML && a.w.q8Act) {
    ggmlQ8MatmulRowsScalar(a, r0, r1);
    return;
  }
  static thread_local std::vector<float> row;
  const int K = a.w.cols;
  const int N = a.w.rows;
  if (row.size() < static_cast<size_t>(K)) row.resize(K);
  for (int r = r0; r < r1; r++) {
    decodeRow(a.w, r, row.data());
    for (int t = 0; t < a.T; t++) a.y[static_cast<size_t>(t) * N + r] = dot(a.x + static_cast<size_t>(t) * K, row.data(), K);
  }
}

void scoreRun(const float* q, const float* k0, size_t stride, int n, int d, float scale, float* out) {
  for (int j = 0; j < n; j++) out[j] = dot(q, k0 + j * stride, d) * scale;
}

void weightedSumRun(float* acc, const float* p, const float* v0, size_t stride, int n, int d) {
  for (int j = 0; j < n; j++) {
    const float* v = v0 + j * stride;
    for (int c = 0; c < d; c++) acc[c] += p[j] * v[c];
  }
}

float expShiftSum(float* s, int n, float m) {
  float sum = 0;
  for (int i = 0; i < n; i++) {
    s[i] = std::exp(s[i] - m);
    sum += s[i];
  }
  return sum;
}

void swiglu(float* y, const float* g, const float* u, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

float readSum(const float* p, size_t n) {
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++) s[j] += p[i + j];
  for (; i < n; i++) s[0] += p[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

}  // namespace

const KernelTable& kernelsScalar() {
  static const KernelTable table = {matmulRows, scoreRun, weightedSumRun, expShiftSum, swiglu, readSum};
  return table;
}

}  // namespace mimo
