// LibTorch adapter above the untyped Communicator boundary: collectives on at::Tensor.
// Tensors must be contiguous; CPU tensors go to any backend, CUDA tensors need nccl.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "comm/communicator.h"

namespace recprism {

// dtype of a tensor at the communicator boundary; throws Error(kInvalidArgument) for types the
// boundary does not carry (e.g. half).
DType CommDType(const at::Tensor& tensor);

// In-place all-reduce of one tensor.
void AllReduceTensor(Communicator& comm, at::Tensor& tensor, ReduceOp op);

// Averages gradients across ranks in one fused all-reduce per bucket of at most bucket_bytes:
// each bucket is flattened, summed and divided by WorldSize(), then copied back. Tensors that
// are undefined (parameters without a gradient) are skipped on every rank alike.
void AllReduceMeanBucketed(Communicator& comm, std::vector<at::Tensor>& tensors, size_t bucket_bytes);

}  // namespace recprism
