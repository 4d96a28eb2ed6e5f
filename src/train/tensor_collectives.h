// LibTorch adapter above the untyped Communicator boundary: collectives on at::Tensor.
// Tensors must be contiguous; CPU tensors go to any backend, CUDA tensors need nccl.
#pragma once

#include <ATen/core/Tensor.h>


#include "comm/communicator.h"

namespace recprism {

// dtype of a tensor at the communicator boundary; throws Error(kInvalidArgument) for types the
// boundary does not carry (e.g. half).
DType CommDType(const at::Tensor& tensor);

// In-place all-reduce of one tensor.
void AllReduceTensor(Communicator& comm, at::Tensor& tensor, ReduceOp op);

// Gradient averaging lives in grad_sync.h: it divides by the global sample count of the step,
// not by the world size (which is wrong when a rank's batch is short or empty).

}  // namespace recprism
