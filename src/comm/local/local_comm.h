// World-of-one backend (the default): every collective is a copy or a no-op.
#pragma once

#include <memory>

#include "comm/communicator.h"
#include "comm/options.h"

namespace recprism {

std::unique_ptr<Communicator> CreateLocalCommunicator(const CommOptions& options);

}  // namespace recprism
