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
  float* out;  // [T, Hq, Dv]
};

// out = softmax(q·kᵀ / sqrt(Dqk) [+ sink in the denominator]) · v per (token, query head), query head h reading KV
// head h / (Hq / Hkv); keys first … i with first = max(0, i − window + 1). The result of every (token, head) does not
// depend on how heads are grouped into tasks or on the thread count.
// Caller checks: Hq % Hkv == 0, array lengths, pastRows > 0 when cached positions are read.
void attention(const AttentionArgs& a);

}  // namespace mimo
