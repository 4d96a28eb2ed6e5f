#include "data/hdf5_util.h"

namespace recprism::data::hdf5 {

std::mutex& Mutex() {
  static std::mutex mu;
  return mu;
}

void Quiet() {
  static const bool kDone = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)kDone;
}

bool Exists(hid_t loc, const std::string& name) { return H5Lexists(loc, name.c_str(), H5P_DEFAULT) > 0; }

}  // namespace recprism::data::hdf5
