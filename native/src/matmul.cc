// Matmul driver: the output rows are split across threads and every range runs the level's row kernel
// (`KernelTable::matmulRows`) for all T tokens at once. There is no separate prefill GEMM: a row's result has one
// summation order for every T, thread count and split (row invariance), which batched decode, chunked prefill, MTP
// verify steps and prefix-cache hits rely on to give the bits a fresh prefill gives.
#include "matmul.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "cpu.h"
#include "ggml_q8.h"
#include "kernels.h"
#include "thread_pool.h"

namespace mimo {

const KernelTable& kernels() {
  switch (currentLevel()) {
    case Level::Avx512Bf16: return kernelsAvx512Bf16();
    case Level::Avx512: return kernelsAvx512();
    case Level::Avx2: return kernelsAvx2();
    case Level::Scalar: return kernelsScalar();
  }
  return kernelsScalar();
}

namespace {

// Below this many weight elements × tokens an op runs on the calling thread only (sync would cost more).
constexpr size_t kParallelMin = 1 << 15;

void matmulRowsSplit(const KernelTable& k, const MatmulArgs& a) {
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
  // x split once for all chunks where the level's row kernel works on split x; quantised once for an 8-bit-activation
  // weight.
  MatmulArgs args = a;
  static thread_local Q8Buffer q8;
  if (a.w.dtype == WDType::GGML && a.w.q8Act && !a.xq) {
    q8.quantize(a.x, a.T, a.w.cols);
    args.xq = q8.q;
    args.xd = q8.d;
  }
  static thread_local std::vector<uint16_t> xsStore;
  const size_t words = k.splitWords ? k.splitWords(a.w, a.T) : 0;
  if (words > 0) {
    if (xsStore.size() < words + 32) xsStore.resize(words + 32);
    uint16_t* xs = xsStore.data();
    while (reinterpret_cast<uintptr_t>(xs) & 63) xs++;
    k.splitX(a.w, a.x, a.T, xs);
    args.xs = xs;
  }
  parallelFor(chunks, [&](int c, int) {
    const int r0 = c * rowsPerChunk;
    k.matmulRows(args, r0, minInt(N, r0 + rowsPerChunk));
  });
}

}  // namespace

int rowInvariantRows() { return 1 << 30; }

void matmul(const MatmulArgs& a) {
  if (a.T == 0 || a.w.rows == 0) return;
  if (a.w.cols == 0) {
    std::memset(a.y, 0, sizeof(float) * a.T * a.w.rows);
    return;
  }
  matmulRowsSplit(kernels(), a);
}

}  // namespace mimo
