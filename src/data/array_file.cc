#include "data/array_file.h"


#include "core/check.h"
#include "core/file_util.h"
#include "data/hdf5_util.h"

namespace recprism::data {

void WriteArrays(const std::string& path, const std::vector<NamedArray>& arrays,
                 const std::vector<std::pair<std::string, std::string>>& attrs) {
  const std::string tmp = TempPathFor(path);
  std::lock_guard<std::mutex> lock(hdf5::Mutex());  // a loader thread may be reading a prepared file
  hdf5::Quiet();
  hid_t file = H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  RP_REQUIRE(file >= 0, StatusCode::kIoError, "cannot create '{}'", tmp);
  bool ok = true;
  for (const auto& a : arrays) {
    std::vector<hsize_t> dims(a.shape.begin(), a.shape.end());
    hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    const bool f = !a.f32.empty() || a.i64.empty();
    hid_t type = f ? H5T_IEEE_F32LE : H5T_STD_I64LE;
    hid_t set = H5Dcreate2(file, a.name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ok = ok && set >= 0;
    if (set >= 0) {
      const void* data = f ? static_cast<const void*>(a.f32.data()) : static_cast<const void*>(a.i64.data());
      ok = ok && H5Dwrite(set, f ? H5T_NATIVE_FLOAT : H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0;
      H5Dclose(set);
    }
    H5Sclose(space);
  }
  for (const auto& [key, value] : attrs) {
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, value.empty() ? 1 : value.size());
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(file, key.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
    ok = ok && attr >= 0 && H5Awrite(attr, type, value.empty() ? "" : value.data()) >= 0;
    if (attr >= 0) H5Aclose(attr);
    H5Sclose(space);
    H5Tclose(type);
  }
  ok = H5Fclose(file) >= 0 && ok;
  RP_REQUIRE(ok, StatusCode::kIoError, "writing arrays to '{}' failed", path);
  CommitTempFile(tmp, path);
}

std::vector<NamedArray> ReadArrays(const std::string& path) {
  std::lock_guard<std::mutex> lock(hdf5::Mutex());
  hdf5::Quiet();
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  RP_REQUIRE(file >= 0, StatusCode::kIoError, "cannot open '{}' as HDF5", path);
  std::vector<NamedArray> out;
  H5G_info_t info;
  H5Gget_info(file, &info);
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    char name[1024];
    H5Lget_name_by_idx(file, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof(name), H5P_DEFAULT);
    hid_t set = H5Dopen2(file, name, H5P_DEFAULT);
    if (set < 0) continue;
    hid_t space = H5Dget_space(set);
    const int rank = H5Sget_simple_extent_ndims(space);
    std::vector<hsize_t> dims(static_cast<size_t>(std::max(rank, 0)));
    H5Sget_simple_extent_dims(space, dims.data(), nullptr);
    NamedArray a;
    a.name = name;
    size_t n = 1;
    for (auto d : dims) {
      a.shape.push_back(static_cast<int64_t>(d));
      n *= d;
    }
    hid_t type = H5Dget_type(set);
    if (H5Tget_class(type) == H5T_FLOAT) {
      a.f32.resize(n);
      H5Dread(set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, a.f32.data());
    } else {
      a.i64.resize(n);
      H5Dread(set, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, a.i64.data());
    }
    H5Tclose(type);
    H5Sclose(space);
    H5Dclose(set);
    out.push_back(std::move(a));
  }
  H5Fclose(file);
  return out;
}

}  // namespace recprism::data
