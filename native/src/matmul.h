// y `[T, rows]` = x `[T, cols]` · Wᵀ for every stored dtype, threaded. Inputs are validated by the caller (addon.cc).
#pragma once
#include "common.h"

namespace mimo {

void matmul(const MatmulArgs& a);

}  // namespace mimo
