// Element-wise reduction kernel shared by the host-side backends (local, inproc).
#pragma once

#include <cstddef>

#include "comm/types.h"

namespace recprism {

// dst[i] = op(dst[i], src[i]) for i < count. Exact and order-preserving: the caller fixes the
// order of contributions, so results are deterministic.
void ReduceInto(void* dst, const void* src, size_t count, DType dtype, ReduceOp op);

}  // namespace recprism
