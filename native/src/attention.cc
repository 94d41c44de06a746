// Attention: per (block of up to 16 tokens, KV head, slice of its query heads) task, each key run read once for all of
// them, scores = q·k / sqrt(Dqk) over the visible keys
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

namespace {

// max(init, the scores' maximum), NaN scores skipped, as `m = s > m ? s : m` over them. Eight independent running
// maxima, so the loop is not one long chain of dependent compares; the maximum of a set does not depend on the
// order it is taken in (a ±0 tie only changes the sign of a zero shift, which exp does not see).
float maxScore(const float* s, int64_t n, float init) {
  float m[8] = {init, init, init, init, init, init, init, init};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int u = 0; u < 8; u++) m[u] = s[j + u] > m[u] ? s[j + u] : m[u];
  for (; j < n; j++) m[0] = s[j] > m[0] ? s[j] : m[0];
  for (int u = 1; u < 8; u++) m[0] = m[u] > m[0] ? m[u] : m[0];
  return m[0];
}

// Scores of nq queries (q + r·Dqk) against n keys into out + r·outStride: the level's multi-query kernel, else
// scoreRun per query (the same bits either way).
void scoreRows(const KernelTable& kt, const float* q, int nq, const float* k, size_t ks, int n, int d, float scale, float* out, size_t outStride) {
  if (kt.scoreRunRows) return kt.scoreRunRows(q, d, nq, k, ks, n, d, scale, out, outStride);
  for (int r = 0; r < nq; r++) kt.scoreRun(q + static_cast<size_t>(r) * d, k, ks, n, d, scale, out + r * outStride);
}

// Weighted sums of nr rows (acc + r·d, weights p + r·pStride) over the same n value rows: the level's multi-row
// kernel, else weightedSumRun per row (the same bits either way).
void weightedSumRows(const KernelTable& kt, float* acc, const float* p, size_t pStride, int nr, const float* v, size_t vs, int n, int d) {
  if (kt.weightedSumRunRows) return kt.weightedSumRunRows(acc, d, p, pStride, nr, v, vs, n, d);
  for (int r = 0; r < nr; r++) kt.weightedSumRun(acc + static_cast<size_t>(r) * d, p + r * pStride, v, vs, n, d);
}

}  // namespace

void attention(const AttentionArgs& a) {
  const KernelTable& kt = kernels();
  const int group = a.Hq / a.Hkv;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(a.Dqk)));
  const int64_t maxKeys = a.hasWindow ? std::min<int64_t>(a.window, a.start + a.T) : a.start + a.T;
  // A task is (block of consecutive tokens, KV head, slice of its query heads): every key block is read from memory
  // once per task and then serves all its tokens × heads from cache. Blocks of kTokens tokens; for few tokens (decode,
  // verify) a KV head's query heads are split instead so there are enough tasks for the threads.
  constexpr int kTokens = 16;
  const int threads = poolThreads();
  const int tokenBlocks = ceilDiv(a.T, kTokens);
  int slices = 1;
  while (slices < group && static_cast<int64_t>(tokenBlocks) * a.Hkv * slices < 2 * threads) slices *= 2;
  slices = std::min(slices, group);
  const int headsPerSlice = ceilDiv(group, slices);
  slices = ceilDiv(group, headsPerSlice);
  const int tasks = tokenBlocks * a.Hkv * slices;
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
    static thread_local std::vector<int64_t> rowFirst, rowOffset;
    const int slice = id % slices;
    const int kvh = (id / slices) % a.Hkv;
    // The last token blocks see the most keys: hand them out first.
    const int block = tokenBlocks - 1 - id / (slices * a.Hkv);
    const int t0 = block * kTokens;
    const int nt = std::min(kTokens, a.T - t0);
    const int h0 = kvh * group + slice * headsPerSlice;
    const int nh = std::min(headsPerSlice, (kvh + 1) * group - h0);
    auto firstOf = [&](int64_t i) -> int64_t { return a.hasWindow ? std::max<int64_t>(0, i - a.window + 1) : 0; };
    // Token t0 + tt sees keys rowFirst[tt] … start + t0 + tt; its head hh's scores start at rowOffset[tt] + hh · n.
    rowFirst.resize(nt);
    rowOffset.resize(nt + 1);
    rowOffset[0] = 0;
    auto keysOf = [&](int tt) { return a.start + t0 + tt - rowFirst[tt] + 1; };
    for (int tt = 0; tt < nt; tt++) {
      rowFirst[tt] = firstOf(a.start + t0 + tt);
      rowOffset[tt + 1] = rowOffset[tt] + static_cast<int64_t>(nh) * keysOf(tt);
    }
    if (scores.size() < static_cast<size_t>(rowOffset[nt])) scores.resize(static_cast<size_t>(rowOffset[nt]));
    if (acc.size() < static_cast<size_t>(nt) * nh * a.Dv) acc.resize(static_cast<size_t>(nt) * nh * a.Dv);
    if (denom.size() < static_cast<size_t>(nt) * nh) denom.resize(static_cast<size_t>(nt) * nh);
    // The union of the block's visible keys, first … last: cached positions (ring rows p mod pastRows, contiguous
    // until the ring wraps), then the chunk's own rows; runs are cut at kBlock keys so one block of keys (32 keys of
    // 192 floats: 24 KiB) stays in L1 while every token and head of the task reads it (64 keys measured 1.3× slower
    // for a 256-token chunk over 12K cached keys: the run no longer fits beside the queries and scores).
    const int64_t first = rowFirst[0];
    const int64_t last = a.start + t0 + nt - 1;
    constexpr int kBlock = 32;
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
    const int64_t pastEnd = std::min(last + 1, a.start);
    if (bf16) {
      // BF16 cache: this KV head's visible past rows widened to f32 (exact: the bits are the upper half) into a
      // per-thread buffer laid out as the f32 cache would be, so the same score / weighted-sum kernels run on them.
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
    for (int64_t j = first; !bf16 && j < pastEnd;) {
      const Loc l = locate(j);
      const int cnt = static_cast<int>(std::min<int64_t>({pastEnd - j, l.contiguous, kBlock}));
      const float* kb = paged ? a.pageKeys[l.block] : a.pastKeys;
      const float* vb = paged ? a.pageValues[l.block] : a.pastValues;
      runs.push_back({j, cnt, kb + (l.row * a.Hkv + kvh) * a.Dqk, vb + (l.row * a.Hkv + kvh) * a.Dv, false});
      j += cnt;
    }
    for (int64_t j = std::max(first, a.start); j <= last;) {
      const int cnt = static_cast<int>(std::min<int64_t>(last + 1 - j, kBlock));
      runs.push_back({j, cnt, a.k + ((j - a.start) * a.Hkv + kvh) * a.Dqk, a.v + ((j - a.start) * a.Hkv + kvh) * a.Dv, false});
      j += cnt;
    }
    // Each (run, token) pair: the part of the run the token sees, [lo, hi). The kernels treat every key on its own
    // (scores) or in position order with the sum carried in acc (weighted sums), so cutting a token's keys into
    // these runs gives the bits a single run would.
    auto visible = [&](const Run& run, int tt, int64_t& lo, int64_t& hi) {
      lo = std::max(run.j0, rowFirst[tt]);
      hi = std::min<int64_t>(run.j0 + run.count, a.start + t0 + tt + 1);
      return lo < hi;
    };
    for (const Run& run : runs)
      for (int tt = 0; tt < nt; tt++) {
        int64_t lo, hi;
        if (!visible(run, tt, lo, hi)) continue;
        const size_t ks = run.packed ? a.Dqk : strideK;
        scoreRows(kt, a.q + (static_cast<int64_t>(t0 + tt) * a.Hq + h0) * a.Dqk, nh, run.k + (lo - run.j0) * ks, ks, static_cast<int>(hi - lo), a.Dqk,
                  scale, scores.data() + rowOffset[tt] + (lo - rowFirst[tt]), keysOf(tt));
      }
    for (int tt = 0; tt < nt; tt++) {
      const int64_t n = keysOf(tt);
      for (int hh = 0; hh < nh; hh++) {
        float* sc = scores.data() + rowOffset[tt] + hh * n;
        const float sink = a.sinks ? a.sinks[h0 + hh] : -INFINITY;
        const float m = maxScore(sc, n, sink);
        const float sum = kt.expShiftSum(sc, static_cast<int>(n), m);
        denom[tt * nh + hh] = (a.sinks ? std::exp(sink - m) : 0.0f) + sum;
      }
    }
    // Weighted sums: acc rows [token][head][Dv], each carried across the runs in position order.
    std::fill(acc.begin(), acc.begin() + static_cast<int64_t>(nt) * nh * a.Dv, 0.0f);
    for (const Run& run : runs)
      for (int tt = 0; tt < nt; tt++) {
        int64_t lo, hi;
        if (!visible(run, tt, lo, hi)) continue;
        const size_t vs = run.packed ? a.Dv : strideV;
        weightedSumRows(kt, acc.data() + static_cast<int64_t>(tt) * nh * a.Dv, scores.data() + rowOffset[tt] + (lo - rowFirst[tt]), keysOf(tt), nh,
                        run.v + (lo - run.j0) * vs, vs, static_cast<int>(hi - lo), a.Dv);
      }
    for (int tt = 0; tt < nt; tt++)
      for (int hh = 0; hh < nh; hh++) {
        float* o = a.out + (static_cast<int64_t>(t0 + tt) * a.Hq + h0 + hh) * a.Dv;
        const float* ac = acc.data() + (static_cast<int64_t>(tt) * nh + hh) * a.Dv;
        const float dn = denom[tt * nh + hh];
        for (int d = 0; d < a.Dv; d++) o[d] = ac[d] / dn;
      }
  };
  parallelFor(tasks, task, work < 1 << 16 ? 1 : 0);
}

}  // namespace mimo
