// Named float32/int64 arrays to and from an HDF5 file (one dataset per array, the name as its path
// with '.' kept): model weight exports, readable with h5py as f["embed.item.weight"][...].
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace recprism::data {

struct NamedArray {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> f32;    // float32 data (row-major), or
  std::vector<int64_t> i64;  // int64 data when f32 is empty
};

// Writes the arrays to path atomically (temporary name, then rename); attrs become root
// attributes (strings). Throws Error(kIoError) naming the file.
void WriteArrays(const std::string& path, const std::vector<NamedArray>& arrays,
                 const std::vector<std::pair<std::string, std::string>>& attrs = {});
// Reads every dataset at the file's root (float32 or int64). Throws Error(kIoError/kDataError).
std::vector<NamedArray> ReadArrays(const std::string& path);

}  // namespace recprism::data
