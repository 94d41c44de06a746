// Elementwise ops. RMSNorm and RoPE follow the reference's float64 arithmetic step by step (they are cheap next to
// the matmuls), so they match it bit for bit; SwiGLU uses the dispatch level's float32 exp (≈1 ulp).
#include "elementwise.h"

#include <cmath>
#include <vector>

#include "kernels.h"
#include "thread_pool.h"

namespace mimo {
namespace {

constexpr size_t kParallelMin = 1 << 16;  // elements below which an op stays on the calling thread

// Splits [0, n) into chunks of `grain` and runs them on the pool when n is large enough.
template <class F>
void forChunks(size_t n, size_t grain, size_t work, F&& f) {
  const int chunks = static_cast<int>((n + grain - 1) / grain);
  auto run = [&](int c, int) {
    const size_t b = static_cast<size_t>(c) * grain;
    f(b, b + grain < n ? b + grain : n);
  };
  parallelFor(chunks, run, work < kParallelMin ? 1 : 0);
}

}  // namespace

void rmsNorm(float* y, const float* x, int T, int D, const float* weight, double eps) {
  const size_t grain = D >= 4096 ? 4 : 16;
  forChunks(static_cast<size_t>(T), grain, static_cast<size_t>(T) * D, [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; t++) {
      const float* xr = x + t * D;
      float* yr = y + t * D;
      double ss = 0;
      for (int i = 0; i < D; i++) ss += static_cast<double>(xr[i]) * xr[i];
      const float inv = static_cast<float>(1.0 / std::sqrt(static_cast<double>(static_cast<float>(ss / D)) + eps));
      for (int i = 0; i < D; i++) yr[i] = (xr[i] * inv) * weight[i];
    }
  });
}

void rope(float* x, int T, int heads, int headDim, int rotaryDim, double theta, int64_t start) {
  const int half = rotaryDim / 2;
  if (half == 0) return;
  std::vector<float> invFreq(half);
  for (int j = 0; j < half; j++) invFreq[j] = static_cast<float>(1.0 / std::pow(theta, (2.0 * j) / rotaryDim));
  const size_t grain = 8;
  forChunks(static_cast<size_t>(T), grain, static_cast<size_t>(T) * heads * half * 8, [&](size_t t0, size_t t1) {
    std::vector<double> cs(half), sn(half);
    for (size_t t = t0; t < t1; t++) {
      const double pos = static_cast<double>(start + static_cast<int64_t>(t));
      for (int j = 0; j < half; j++) {
        const float phi = static_cast<float>(pos * invFreq[j]);
        cs[j] = static_cast<float>(std::cos(static_cast<double>(phi)));
        sn[j] = static_cast<float>(std::sin(static_cast<double>(phi)));
      }
      for (int h = 0; h < heads; h++) {
        float* o = x + (t * heads + h) * headDim;
        for (int j = 0; j < half; j++) {
          const double a = o[j], b = o[j + half];
          o[j] = static_cast<float>(a * cs[j] - b * sn[j]);
          o[j + half] = static_cast<float>(b * cs[j] + a * sn[j]);
        }
      }
    }
  });
}

void swiglu(float* y, const float* gate, const float* up, size_t n) {
  const KernelTable& k = kernels();
  forChunks(n, 16384, n, [&](size_t b, size_t e) { k.swiglu(y + b, gate + b, up + b, e - b); });
}

}  // namespace mimo
