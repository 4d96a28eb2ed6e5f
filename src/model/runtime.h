// LibTorch runtime facts and settings, behind a header that does not include LibTorch.
#pragma once

#include <string>

namespace recprism {

// "1.13.1" (LibTorch's TORCH_VERSION).
std::string TorchVersion();
// Sets LibTorch's intra-op thread pool size (at::set_num_threads).
void SetTorchThreads(int threads);
int TorchThreads();
// True when LibTorch sees a CUDA device (false for a CPU-only LibTorch).
bool TorchCudaAvailable();

}  // namespace recprism
