// What this process runs on: which BLAS the dynamic linker resolved, and thread defaults.
// No heavy headers; BLAS is found through dlsym/dladdr at run time, so the answer is the
// library actually loaded (Debian switches libblas.so.3 through update-alternatives).
#pragma once

#include <string>

namespace recprism {

struct BlasInfo {
  std::string name;          // "OpenBLAS", "BLIS", "MKL", "reference BLAS (netlib)", "none loaded", ...
  std::string library_path;  // the shared object that provides sgemm_, when known
  std::string detail;        // e.g. OpenBLAS's build config ("OpenBLAS 0.3.21 ... Haswell MAX_THREADS=64")
  bool is_reference = false; // the unoptimised netlib BLAS: LibTorch's matmuls run ~20x slower on it
};

// Inspects the current process. Cheap; call after LibTorch is loaded (it pulls in the BLAS).
BlasInfo DetectBlas();

// Classifies a BLAS library by its resolved path alone (pure; used by DetectBlas and tests).
BlasInfo ClassifyBlasPath(const std::string& resolved_path);

// Sets the BLAS thread count when the loaded BLAS exposes a setter (OpenBLAS, BLIS, MKL).
// Returns false when it does not.
bool SetBlasThreads(int threads);

// Threads per rank: `requested` when > 0, else max(1, cores / ranks_on_this_node).
int ResolveThreadsPerRank(int requested, int cores, int ranks_on_this_node);

// Keeps large freed buffers in the process heap for reuse (glibc: mmap and trim thresholds of
// 1 GiB) instead of unmapping them, so a buffer allocated again (exact-scan keys, row columns,
// exchange buffers, batches) does not pay its page faults again. On virtual machines a page fault
// costs more than touching the page: on the benchmark VM this made `evaluate` 1.6x faster at the
// same peak RSS (docs/benchmarks.md). Call once at the start of main. Returns false when the
// allocator refused (e.g. under a sanitizer's allocator).
bool KeepLargeBuffersInHeap();

// Online cores visible to this process (sched affinity aware).
int VisibleCores();

}  // namespace recprism
