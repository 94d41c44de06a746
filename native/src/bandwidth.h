// Measurements for the benchmark: memory read bandwidth and the thread pool's per-dispatch overhead.
#pragma once
#include <cstddef>

namespace mimo {

// Best of `repeats` timed passes of a `threads`-thread sum over a freshly allocated and touched buffer of `bytes`
// (rounded down to 4 KiB); returns bytes per second. The buffer has ordinary 4 KiB pages, like weights in JS memory
// or a mapped file, unless hugePages asks for transparent huge pages (faster streaming where the kernel grants
// them). Throws std::bad_alloc when the buffer cannot be allocated.
double memReadBandwidth(size_t bytes, int threads, int repeats, bool hugePages);
// Median over 5 batches of `iterations` back-to-back empty parallel ops (one task per thread), in microseconds per op.
double dispatchOverheadUs(int iterations);

}  // namespace mimo
