// Read-bandwidth probe (what the decode bound is computed from) and the thread-pool overhead probe.
#include "bandwidth.h"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <new>
#include <vector>

#include "kernels.h"
#include "thread_pool.h"

namespace mimo {
namespace {

double seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

double memReadBandwidth(size_t bytes, int threads, int repeats, bool hugePages) {
  bytes &= ~static_cast<size_t>(4095);
  if (bytes == 0) return 0;
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) throw std::bad_alloc();
  madvise(mem, bytes, hugePages ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  float* buf = static_cast<float*>(mem);
  const size_t n = bytes / sizeof(float);
  const int prevThreads = poolThreads();
  if (threads > prevThreads) setPoolThreads(threads);
  // 64 slices per thread (4 KiB aligned), handed out dynamically.
  const int slices = threads * 64;
  const size_t per = (n / slices) & ~static_cast<size_t>(1023);
  auto sliceRange = [&](int s, size_t* b, size_t* e) {
    *b = static_cast<size_t>(s) * per;
    *e = s == slices - 1 ? n : *b + per;
  };
  parallelFor(slices, [&](int s, int) {
    size_t b, e;
    sliceRange(s, &b, &e);
    // Distinct contents in every page: pages of identical contents can be merged by the host (KSM on a VM), and
    // reading one shared physical page again and again measures the caches, not memory (seen here: 69 GB/s
    // "bandwidth" with a constant fill against 43 GB/s with huge pages, which are not merged).
    for (size_t i = b; i < e; i++) buf[i] = static_cast<float>(i & 0xffffff);
  }, threads);
  const KernelTable& k = kernels();
  std::vector<float> sums(slices);
  double best = 0;
  for (int r = 0; r < std::max(1, repeats); r++) {
    const double t0 = seconds();
    parallelFor(slices, [&](int s, int) {
      size_t b, e;
      sliceRange(s, &b, &e);
      sums[s] = k.readSum(buf + b, e - b);
    }, threads);
    const double dt = seconds() - t0;
    best = std::max(best, static_cast<double>(bytes) / dt);
  }
  volatile float sink = 0;
  for (float s : sums) sink = sink + s;
  munmap(mem, bytes);
  if (threads > prevThreads) setPoolThreads(prevThreads);
  return best;
}

double dispatchOverheadUs(int iterations) {
  const int threads = poolThreads();
  std::vector<double> batches;
  auto noop = [](int, int) {};
  for (int b = 0; b < 5; b++) {
    const double t0 = seconds();
    for (int i = 0; i < iterations; i++) parallelFor(threads, noop);
    batches.push_back((seconds() - t0) / iterations * 1e6);
  }
  std::sort(batches.begin(), batches.end());
  return batches[batches.size() / 2];
}

}  // namespace mimo
