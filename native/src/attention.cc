// Attention: per (token, KV head, slice of its query heads) task, scores = q·k / sqrt(Dqk) over the visible keys
// (past rows p mod pastRows or page rows, then the current chunk), softmax with the optional sink logit in the denominator
// (spec §3.4 item 7), then the weighted sum of values. Float32 throughout, exp of the dispatch level.
#include "attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common.h"
#include "kernels.h"
#include "thread_pool.h"

namespace mimo {

void attention(const AttentionArgs& a) {
  const KernelTable& kt = kernels();
  const int group = a.Hq / a.Hkv;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(a.Dqk)));
  const int64_t maxKeys = a.hasWindow ? std::min<int64_t>(a.window, a.start + a.T) : a.start + a.T;
  // Split a KV head's query heads so there are enough tasks for the threads (decode has T = 1).
  const int threads = poolThreads();
  int slices = 1;
  while (slices < group && static_cast<int64_t>(a.T) * a.Hkv * slices < 2 * threads) slices *= 2;
  slices = std::min(slices, group);
  const int headsPerSlice = ceilDiv(group, slices);
  slices = ceilDiv(group, headsPerSlice);
  const int tasks = a.T * a.Hkv * slices;
  const double work = static_cast<double>(a.T) * a.Hq * static_cast<double>(std::max<int64_t>(maxKeys, 1)) * (a.Dqk + a.Dv);

  const size_t strideK = static_cast<size_t>(a.Hkv) * a.Dqk;
  const size_t strideV = static_cast<size_t>(a.Hkv) * a.Dv;
  auto task = [&](int id, int) {
    // A run: `count` consecutive keys from position j0 whose rows are evenly spaced in memory.
    struct Run {
      int64_t j0;
      int count;
      const float* k;
      const float* v;
      bool packed;  // rows are Dqk / Dv apart (widened BF16) instead of a cache row apart
    };
    static thread_local std::vector<float> scores, acc, denom, past16;
    static thread_local std::vector<Run> runs;
    const int slice = id % slices;
    const int kvh = (id / slices) % a.Hkv;
    const int t = id / (slices * a.Hkv);
    const int h0 = kvh * group + slice * headsPerSlice;
    const int nh = std::min(headsPerSlice, (kvh + 1) * group - h0);
    const int64_t i = a.start + t;
    const int64_t first = a.hasWindow ? std::max<int64_t>(0, i - a.window + 1) : 0;
    const int64_t n = i >= first ? i - first + 1 : 0;
    if (scores.size() < static_cast<size_t>(nh * n)) scores.resize(static_cast<size_t>(nh * n));
    if (acc.size() < static_cast<size_t>(nh) * a.Dv) acc.resize(static_cast<size_t>(nh) * a.Dv);
    if (denom.size() < static_cast<size_t>(nh)) denom.resize(nh);
    // Visible keys first … i: cached positions (ring rows p mod pastRows, contiguous until the ring wraps), then
    // the chunk's own rows; runs are cut at kBlock keys so one block of keys stays in L2 while every head reads it.
    constexpr int kBlock = 256;
    runs.clear();
    const bool paged = a.pageSize > 0;
    const bool bf16 = paged ? a.pageKeysBf16 != nullptr : a.pastKeysBf16 != nullptr;
    // Cached position j: its page (0 for a ring), its row there, and how many positions from j are contiguous.
    struct Loc {
      int64_t block, row, contiguous;
    };
    auto locate = [&](int64_t j) -> Loc {
      if (paged) return {j / a.pageSize, j % a.pageSize, a.pageSize - j % a.pageSize};
      return {0, j % a.pastRows, a.pastRows - j % a.pastRows};
    };
    if (bf16) {
      // BF16 cache: this KV head's visible past rows widened to f32 (exact: the bits are the upper half) into a
      // per-thread buffer laid out as the f32 cache would be, so the same score / weighted-sum kernels run on them.
      const int64_t pastEnd = std::min(i + 1, a.start);
      const int64_t np = std::max<int64_t>(0, pastEnd - first);
      const size_t need = static_cast<size_t>(np) * (a.Dqk + a.Dv);
      if (past16.size() < need) past16.resize(need);
      float* pk = past16.data();
      float* pv = pk + np * a.Dqk;
      for (int64_t j = first; j < pastEnd; j++) {
        const Loc l = locate(j);
        const uint16_t* ks = (paged ? a.pageKeysBf16[l.block] : a.pastKeysBf16) + (l.row * a.Hkv + kvh) * a.Dqk;
        const uint16_t* vs = (paged ? a.pageValuesBf16[l.block] : a.pastValuesBf16) + (l.row * a.Hkv + kvh) * a.Dv;
        uint32_t* kd = reinterpret_cast<uint32_t*>(pk + (j - first) * a.Dqk);
        uint32_t* vd = reinterpret_cast<uint32_t*>(pv + (j - first) * a.Dv);
        for (int d = 0; d < a.Dqk; d++) kd[d] = static_cast<uint32_t>(ks[d]) << 16;
        for (int d = 0; d < a.Dv; d++) vd[d] = static_cast<uint32_t>(vs[d]) << 16;
      }
      for (int64_t j = first; j < pastEnd;) {
        const int cnt = static_cast<int>(std::min<int64_t>(pastEnd - j, kBlock));
        runs.push_back({j, cnt, pk + (j - first) * a.Dqk, pv + (j - first) * a.Dv, true});
        j += cnt;
      }
    }
    for (int64_t j = first, pastEnd = std::min(i + 1, a.start); !bf16 && j < pastEnd;) {
      const Loc l = locate(j);
      const int cnt = static_cast<int>(std::min<int64_t>({pastEnd - j, l.contiguous, kBlock}));
      const float* kb = paged ? a.pageKeys[l.block] : a.pastKeys;
      const float* vb = paged ? a.pageValues[l.block] : a.pastValues;
      runs.push_back({j, cnt, kb + (l.row * a.Hkv + kvh) * a.Dqk, vb + (l.row * a.Hkv + kvh) * a.Dv, false});
      j += cnt;
    }
    for (int64_t j = std::max(first, a.start); j <= i;) {
      const int cnt = static_cast<int>(std::min<int64_t>(i + 1 - j, kBlock));
      runs.push_back({j, cnt, a.k + ((j - a.start) * a.Hkv + kvh) * a.Dqk, a.v + ((j - a.start) * a.Hkv + kvh) * a.Dv, false});
      j += cnt;
    }
    const float* q0 = a.q + (static_cast<int64_t>(t) * a.Hq + h0) * a.Dqk;
    for (const Run& run : runs)
      for (int hh = 0; hh < nh; hh++)
        kt.scoreRun(q0 + static_cast<int64_t>(hh) * a.Dqk, run.k, run.packed ? a.Dqk : strideK, run.count, a.Dqk, scale, scores.data() + hh * n + (run.j0 - first));
    for (int hh = 0; hh < nh; hh++) {
      float* sc = scores.data() + hh * n;
      const float sink = a.sinks ? a.sinks[h0 + hh] : -INFINITY;
      float m = sink;
      for (int64_t jj = 0; jj < n; jj++) m = sc[jj] > m ? sc[jj] : m;
      const float sum = kt.expShiftSum(sc, static_cast<int>(n), m);
      denom[hh] = (a.sinks ? std::exp(sink - m) : 0.0f) + sum;
    }
    std::fill(acc.begin(), acc.begin() + static_cast<int64_t>(nh) * a.Dv, 0.0f);
    for (const Run& run : runs)
      for (int hh = 0; hh < nh; hh++)
        kt.weightedSumRun(acc.data() + static_cast<int64_t>(hh) * a.Dv, scores.data() + hh * n + (run.j0 - first), run.v, run.packed ? a.Dv : strideV, run.count, a.Dv);
    for (int hh = 0; hh < nh; hh++) {
      float* o = a.out + (static_cast<int64_t>(t) * a.Hq + h0 + hh) * a.Dv;
      const float* ac = acc.data() + static_cast<int64_t>(hh) * a.Dv;
      for (int d = 0; d < a.Dv; d++) o[d] = ac[d] / denom[hh];
    }
  };
  parallelFor(tasks, task, work < 1 << 16 ? 1 : 0);
}

}  // namespace mimo
