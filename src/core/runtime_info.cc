#include "core/runtime_info.h"

#include <dlfcn.h>
#include <malloc.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <filesystem>

namespace recprism {

BlasInfo ClassifyBlasPath(const std::string& resolved_path) {
  BlasInfo info;
  info.library_path = resolved_path;
  std::string p = resolved_path;
  std::transform(p.begin(), p.end(), p.begin(), [](unsigned char c) { return std::tolower(c); });
  if (p.find("openblas") != std::string::npos) {
    info.name = "OpenBLAS";
  } else if (p.find("blis") != std::string::npos) {
    info.name = "BLIS";
  } else if (p.find("mkl") != std::string::npos) {
    info.name = "MKL";
  } else if (p.find("atlas") != std::string::npos) {
    info.name = "ATLAS";
  } else if (p.find("/blas/") != std::string::npos || p.find("libblas.so") != std::string::npos ||
             p.find("refblas") != std::string::npos) {
    info.name = "reference BLAS (netlib)";
    info.is_reference = true;
  } else if (p.empty()) {
    info.name = "none loaded";
  } else {
    info.name = "unknown BLAS";
  }
  return info;
}

BlasInfo DetectBlas() {
  void* sgemm = dlsym(RTLD_DEFAULT, "sgemm_");
  std::string path;
  if (sgemm != nullptr) {
    Dl_info dl{};
    if (dladdr(sgemm, &dl) != 0 && dl.dli_fname != nullptr) {
      std::error_code ec;
      auto canonical = std::filesystem::canonical(dl.dli_fname, ec);
      path = ec ? std::string(dl.dli_fname) : canonical.string();
    }
  }
  BlasInfo info = ClassifyBlasPath(path);
  // OpenBLAS may be loaded for LAPACK while sgemm_ resolves elsewhere, so its self-description
  // is used only when sgemm_ itself comes from OpenBLAS (or from a library we cannot classify,
  // e.g. Debian's generic libblas.so.3 name pointing at OpenBLAS).
  using ConfigFn = char* (*)();
  auto config = reinterpret_cast<ConfigFn>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
  bool sgemm_is_openblas = false;
  if (config != nullptr && sgemm != nullptr) {
    Dl_info a{}, b{};
    sgemm_is_openblas = dladdr(sgemm, &a) != 0 && dladdr(reinterpret_cast<void*>(config), &b) != 0 &&
                        a.dli_fbase == b.dli_fbase;
  }
  if (config != nullptr && (info.name == "OpenBLAS" || sgemm_is_openblas)) {
    info.name = "OpenBLAS";
    info.is_reference = false;
    if (const char* cfg = config()) info.detail = cfg;
  }
  return info;
}

bool SetBlasThreads(int threads) {
  using SetFn = void (*)(int);
  for (const char* sym : {"openblas_set_num_threads", "bli_thread_set_num_threads", "MKL_Set_Num_Threads"}) {
    if (auto fn = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, sym))) {
      fn(threads);
      return true;
    }
  }
  return false;
}

int VisibleCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(std::min<long>(n, INT_MAX)) : 1;
}

int ResolveThreadsPerRank(int requested, int cores, int ranks_on_this_node) {
  if (requested > 0) return requested;
  int ranks = std::max(1, ranks_on_this_node);
  return std::max(1, cores / ranks);
}

bool KeepLargeBuffersInHeap() {
  constexpr int kThreshold = 1 << 30;
  const bool mmap_ok = mallopt(M_MMAP_THRESHOLD, kThreshold) == 1;
  const bool trim_ok = mallopt(M_TRIM_THRESHOLD, kThreshold) == 1;
  return mmap_ok && trim_ok;
}

}  // namespace recprism
