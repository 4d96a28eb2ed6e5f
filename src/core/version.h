// Build identity, stamped by CMake at configure time.
#pragma once

namespace recprism {
const char* Version();    // "0.1.0"
const char* GitCommit();  // short hash, or "unknown" outside a git checkout
}  // namespace recprism
