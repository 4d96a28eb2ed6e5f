#include "model/runtime.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

namespace recprism {

std::string TorchVersion() { return TORCH_VERSION; }

bool TorchCudaAvailable() { return torch::cuda::is_available(); }
void SetTorchThreads(int threads) { at::set_num_threads(threads); }
int TorchThreads() { return at::get_num_threads(); }

}  // namespace recprism
