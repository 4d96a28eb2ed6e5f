// Threads as ranks in one process: exact, deterministic collectives for fast tests of
// distributed logic (STYLE.md §4). Reductions combine contributions in rank order, so float
// results are bit-identical from run to run. Collectives check that every rank issued the same
// operation (name, dtype, count, root) and throw Error(kInternal) on a mismatch.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "comm/communicator.h"
#include "comm/options.h"

namespace recprism {

// One Communicator per rank of a fresh group; hand each to its own thread.
std::vector<std::unique_ptr<Communicator>> CreateInProcGroup(int world_size, const CommOptions& options);

// Runs fn on world_size threads (one per rank) and joins them. If a rank throws, the group is
// aborted so every other rank's pending or next collective throws Error(kAborted) promptly;
// RunInProc then rethrows the root cause (the first error that is not a consequential abort).
void RunInProc(int world_size, const CommOptions& options, const std::function<void(Communicator&)>& fn);

}  // namespace recprism
