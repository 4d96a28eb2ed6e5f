// Element types, reduction ops and buffer placement for the communicator's untyped boundary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace recprism {

enum class DType : uint8_t { kFloat32, kFloat64, kInt32, kInt64, kUInt8 };
enum class ReduceOp : uint8_t { kSum, kMin, kMax };
enum class DeviceType : uint8_t { kCPU, kCUDA };

// Where a buffer lives. A CUDA buffer names its device index and, optionally, the
// cudaStream_t (as void*) that produced it; the backend orders its work after that stream.
struct BufferPlace {
  DeviceType type = DeviceType::kCPU;
  int device_index = 0;
  void* stream = nullptr;
};

size_t DTypeSize(DType dtype);
std::string_view DTypeName(DType dtype);
std::string_view ReduceOpName(ReduceOp op);

}  // namespace recprism
