// Attention over the KV cache with the reference's semantics (src/kernels/reference/ops.ts `attention`).
#pragma once
#include <cstdint>

namespace mimo {

struct AttentionArgs {
  const float* q;  // [T, Hq, Dqk] after RoPE
  const float* k;  // [T, Hkv, Dqk] this chunk
  const float* v;  // [T, Hkv, Dv]
  int64_t start;   // position of the chunk's first token
  int T, Hq, Hkv, Dqk, Dv;
  int64_t window;         // visible keys per query including itself (when hasWindow)
  bool hasWindow;         // false: full causal attention
  const float* sinks;     // [Hq] or null
  const float* pastKeys;  // [pastRows, Hkv, Dqk], position p in row p mod pastRows (null when BF16)
  const float* pastValues;
  const uint16_t* pastKeysBf16;  // the same as BF16 bits (a --kv-dtype bf16 cache), else null
  const uint16_t* pastValuesBf16;
  int64_t pastRows;
  // Paged past (full-attention layers, pageSize > 0): position p < start in row p mod pageSize of page p / pageSize,
  // each page [pageSize, Hkv, Dqk] / [pageSize, Hkv, Dv]; pastKeys/pastValues and pastRows are unused then. f32 pages
  // in pageKeys/pageValues, or BF16 bits in pageKeysBf16/pageValuesBf16 (the other pair null).
  int64_t pageSize;
  const float* const* pageKeys;
  const float* const* pageValues;
  const uint16_t* const* pageKeysBf16;
  const uint16_t* const* pageValuesBf16;
  float* out;  // [T, Hq, Dv]
};

// out = softmax(q·kᵀ / sqrt(Dqk) [+ sink in the denominator]) · v per (token, query head), query head h reading KV
// head h / (Hq / Hkv); keys first … i with first = max(0, i − window + 1). The result of every (token, head) does not
// depend on how heads are grouped into tasks or on the thread count.
// Where a cached key sits (ring row or page row) changes no bit of the result: runs are cut where rows stop being
// contiguous, and the kernels sum keys in position order across runs.
// Caller checks: Hq % Hkv == 0, array lengths, pastRows > 0 (or pageSize > 0 and enough pages) when cached positions
// are read.
void attention(const AttentionArgs& a);

}  // namespace mimo
