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

}  // namespace recprism
