#include "train/tensor_collectives.h"

#include <ATen/ATen.h>

#include "core/check.h"

namespace recprism {

DType CommDType(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return DType::kFloat32;
    case at::kDouble: return DType::kFloat64;
    case at::kInt: return DType::kInt32;
    case at::kLong: return DType::kInt64;
    case at::kByte: return DType::kUInt8;
    default:
      RP_THROW(StatusCode::kInvalidArgument, "tensor dtype {} cannot cross the communicator (use float32, float64, "
               "int32, int64 or uint8)", std::string(c10::toString(t.scalar_type())));
  }
}

namespace {
BufferPlace PlaceOf(const at::Tensor& t) {
  BufferPlace place;
  if (t.is_cuda()) {
    place.type = DeviceType::kCUDA;
    place.device_index = t.get_device();
  }
  return place;
}
}  // namespace

void AllReduceTensor(Communicator& comm, at::Tensor& tensor, ReduceOp op) {
  RP_REQUIRE(tensor.is_contiguous(), StatusCode::kInvalidArgument, "AllReduceTensor needs a contiguous tensor");
  comm.AllReduce(tensor.data_ptr(), static_cast<size_t>(tensor.numel()), CommDType(tensor), op, PlaceOf(tensor));
}

void AllReduceMeanBucketed(Communicator& comm, std::vector<at::Tensor>& tensors, size_t bucket_bytes) {
  const double scale = 1.0 / comm.WorldSize();
  size_t i = 0;
  while (i < tensors.size()) {
    if (!tensors[i].defined()) {
      ++i;
      continue;
    }
    // A bucket: consecutive defined tensors of one dtype/device up to bucket_bytes (at least one).
    std::vector<at::Tensor> bucket{tensors[i]};
    size_t bytes = tensors[i].numel() * tensors[i].element_size();
    size_t j = i + 1;
    for (; j < tensors.size(); ++j) {
      const auto& t = tensors[j];
      if (!t.defined()) continue;
      if (t.scalar_type() != bucket[0].scalar_type() || t.device() != bucket[0].device()) break;
      size_t b = t.numel() * t.element_size();
      if (bytes + b > bucket_bytes) break;
      bucket.push_back(t);
      bytes += b;
    }
    std::vector<at::Tensor> flat_parts;
    for (const auto& t : bucket) flat_parts.push_back(t.reshape({-1}));
    at::Tensor flat = at::cat(flat_parts);
    AllReduceTensor(comm, flat, ReduceOp::kSum);
    flat.mul_(scale);
    int64_t offset = 0;
    for (auto& t : bucket) {
      t.copy_(flat.narrow(0, offset, t.numel()).view_as(t));
      offset += t.numel();
    }
    i = j;
  }
}

}  // namespace recprism
