// y `[T, rows]` = x `[T, cols]` · Wᵀ for every stored dtype, threaded. Inputs are validated by the caller (addon.cc).
#pragma once
#include "common.h"

namespace mimo {

void matmul(const MatmulArgs& a);
// Largest T for which a row's result does not depend on the other tokens of the call: unlimited (2^30).
int rowInvariantRows();

}  // namespace mimo
