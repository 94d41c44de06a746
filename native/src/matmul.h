// y `[T, rows]` = x `[T, cols]` · Wᵀ for every stored dtype, threaded. Inputs are validated by the caller (addon.cc).
#pragma once
#include "common.h"

namespace mimo {

void matmul(const MatmulArgs& a);
// True when matmul computes T tokens of a weight of this dtype with the current level's row kernel
// (`KernelTable::matmulRows`, any row split gives the same bits) rather than the packed GEMM.
bool matmulUsesRows(WDType dtype, int T);
// Largest T for which every dtype takes the row path, whose per-(row, token) result does not depend on the other
// tokens of the call: batched decode rows up to this many give the bits each row gets alone.
int rowInvariantRows();

}  // namespace mimo
