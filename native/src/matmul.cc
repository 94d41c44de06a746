// Matmul driver. Small T (decode, short verify chunks): rows split across threads, each row streamed once and
// dotted with every token. Larger T (prefill): x packed once into 6-token panels, then per output panel of `nr`
// rows the weights are dequantised to f32 and transposed K-block by K-block into a per-thread buffer and reused for
// all T tokens by the register-blocked micro-tile. Every output's summation order depends only on T and cols, never
// on the thread count or the split.
#include "matmul.h"

#include <cstring>
#include <vector>

#include "cpu.h"
#include "kernels.h"
#include "thread_pool.h"

namespace mimo {

const KernelTable& kernels() {
  switch (currentLevel()) {
    case Level::Avx512: return kernelsAvx512();
    case Level::Avx2: return kernelsAvx2();
    case Level::Scalar: return kernelsScalar();
  }
  return kernelsScalar();
}

namespace {

// Up to this many tokens the row kernel (weights decoded in registers, no packing) beats the packed GEMM; measured
// on Zen 5 with AVX-512 (fp8 decoding costs more per token than bf16/f16 widening).
int smallTLimit(WDType d) {
  switch (d) {
    case WDType::FP8: return 12;
    case WDType::MXFP4: return 12;
    case WDType::F32: return 24;
    default: return 32;
  }
}
// K block of the GEMM: the packed weight panel `[kKc, nr]` stays in L1.
constexpr int kKc = 128;
// Below this many weight elements × tokens an op runs on the calling thread only (sync would cost more).
constexpr size_t kParallelMin = 1 << 15;

void matmulSmallT(const KernelTable& k, const MatmulArgs& a) {
  const int N = a.w.rows;
  const size_t work = static_cast<size_t>(N) * a.w.cols * a.T;
  const int threads = poolThreads();
  if (threads == 1 || work < kParallelMin || N < 16) {
    k.matmulRows(a, 0, N);
    return;
  }
  // Chunks of 8 rows' multiples, ~8 per thread: the wait for the last chunk at the end of the op stays short and a
  // thread slowed by other load is covered by the others.
  int rowsPerChunk = ceilDiv(ceilDiv(N, threads * 8), 8) * 8;
  const int chunks = ceilDiv(N, rowsPerChunk);
  parallelFor(chunks, [&](int c, int) {
    const int r0 = c * rowsPerChunk;
    k.matmulRows(a, r0, minInt(N, r0 + rowsPerChunk));
  });
}

void matmulGemm(const KernelTable& k, const MatmulArgs& a) {
  const int T = a.T, N = a.w.rows, K = a.w.cols;
  const int MR = k.mr, NR = k.nr;
  const int tPanels = ceilDiv(T, MR);
  // ap `[tPanels, K, MR]`: token panel p, column c at ap[(p·K + c)·MR + i]; rows past T are zero.
  static thread_local std::vector<float> apStore;
  const size_t apSize = static_cast<size_t>(tPanels) * K * MR;
  if (apStore.size() < apSize) apStore.resize(apSize);
  float* ap = apStore.data();
  parallelFor(tPanels, [&](int p, int) {
    float* dst = ap + static_cast<size_t>(p) * K * MR;
    for (int i = 0; i < MR; i++) {
      const int t = p * MR + i;
      if (t < T) {
        const float* src = a.x + static_cast<size_t>(t) * K;
        for (int c = 0; c < K; c++) dst[static_cast<size_t>(c) * MR + i] = src[c];
      } else {
        for (int c = 0; c < K; c++) dst[static_cast<size_t>(c) * MR + i] = 0.0f;
      }
    }
  });
  // Tasks: one output panel × a range of token panels. Few output panels (router, small projections) are split
  // along T too, so both threads work; each task packs its own copy of the panel's weights.
  const int nPanels = ceilDiv(N, NR);
  const int want = 2 * poolThreads();
  const int tSplit = nPanels >= want ? 1 : minInt(tPanels, ceilDiv(want, nPanels));
  const int tPerTask = ceilDiv(tPanels, tSplit);
  parallelFor(nPanels * tSplit, [&](int id, int) {
    alignas(64) static thread_local float bp[kKc * 64];  // 64: the widest nr (AVX-512)
    const int panel = id / tSplit;
    const int p0 = (id % tSplit) * tPerTask;
    const int p1 = minInt(tPanels, p0 + tPerTask);
    const int n0 = panel * NR;
    const int n = minInt(NR, N - n0);
    for (int k0 = 0; k0 < K && p0 < p1; k0 += kKc) {
      const int kc = minInt(kKc, K - k0);
      k.packB(a.w, n0, k0, kc, bp);
      for (int p = p0; p < p1; p++) {
        const int m = minInt(MR, T - p * MR);
        k.gemmTile(ap + (static_cast<size_t>(p) * K + k0) * MR, bp, kc, a.y + static_cast<size_t>(p) * MR * N + n0, N, m, n, k0 > 0);
      }
    }
  });
}

}  // namespace

bool matmulUsesRows(WDType dtype, int T) { return kernels().gemmTile == nullptr || T <= smallTLimit(dtype); }

int rowInvariantRows() {
  if (kernels().gemmTile == nullptr) return 1 << 30;
  return minInt(minInt(smallTLimit(WDType::MXFP4), smallTLimit(WDType::FP8)), minInt(smallTLimit(WDType::F32), minInt(smallTLimit(WDType::BF16), smallTLimit(WDType::F16))));
}

void matmul(const MatmulArgs& a) {
  if (a.T == 0 || a.w.rows == 0) return;
  if (a.w.cols == 0) {
    std::memset(a.y, 0, sizeof(float) * a.T * a.w.rows);
    return;
  }
  const KernelTable& k = kernels();
  if (matmulUsesRows(a.w.dtype, a.T)) matmulSmallT(k, a);
  else matmulGemm(k, a);
}

}  // namespace mimo
