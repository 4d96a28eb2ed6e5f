// Test-only access to the world communicator created by mpi_test_main.cc.
#pragma once

#include "comm/communicator.h"

namespace recprism::testing {
Communicator& World();
}  // namespace recprism::testing
