// The routed experts of one MoE layer in one call (src/kernels/backend.ts `moeExperts`), with the reference's order:
// each expert's routed rows gathered in the given order and run as one batch, terms added per token in expert order.
#pragma once
#include <cstdint>

#include "common.h"

namespace mimo {

// One selected expert and the token rows routed to it.
struct MoeExpert {
  WeightView gate;        // [I, D]
  WeightView up;          // [I, D]
  WeightView down;        // [D, I]
  const int32_t* rows;    // [n] token rows in [0, T), in gathering order
  const float* weights;   // [n] routing weight of each row
  int n;                  // >= 1
};

// out [T, D] = Σ_j Σ_i weights_j[i] · down_j(silu(gate_j x) ⊙ up_j x)[row rows_j[i]], out zeroed first; the terms of
// a token are added in the order of `experts` (float64 add, rounded to float32 on store, as the reference).
// Experts whose batch takes the row kernel (decode, short chunks) run together: one parallel region computes every
// h_j = silu(gate_j x) ⊙ up_j x (intermediate rows split across threads), a second computes every down_j over a
// split of the D output rows and accumulates them; others (prefill) run matmul's GEMM path one expert at a time.
// Every output is bitwise equal to matmul → swiglu → matmul per expert plus the same accumulation, for any thread
// count. Caller checks shapes (gate/up cols = D, down rows = D, down cols = gate rows = up rows) and row ranges.
void moeExperts(float* out, const float* x, int T, int D, const MoeExpert* experts, int nExperts);

}  // namespace mimo
