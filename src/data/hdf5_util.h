// The data module's one HDF5 helper: the process-wide mutex, error-stack silencing and an owning
// handle. Debian's libhdf5 is not built thread-safe, so every HDF5 call of the process (prepared
// files, predictions files, weight arrays) runs under Hdf5Mutex(): the loader's prefetch thread
// may read while another thread writes a weights file. Included only by data/ .cc files (HDF5
// stays inside the data module).
#pragma once

#include <hdf5.h>

#include <mutex>
#include <string>

namespace recprism::data::hdf5 {

// The one mutex every HDF5 call of the process holds.
std::mutex& Mutex();

// Silences HDF5's own error-stack printing (once per process): errors are reported by the caller,
// naming the file and dataset.
void Quiet();

// Owns an HDF5 id and closes it with its close function. Movable, not copyable.
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept {
    reset();
    id_ = o.id_;
    close_ = o.close_;
    o.id_ = -1;
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  void reset() {
    if (id_ >= 0 && close_ != nullptr) close_(id_);
    id_ = -1;
  }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

// True when `name` is a link (dataset or group) in `loc`.
bool Exists(hid_t loc, const std::string& name);

}  // namespace recprism::data::hdf5
