// Scoring a split of a prepared file with a RecPrism checkpoint, for `recprism evaluate
// --checkpoint`: every rank scores its own users' samples (the loader's user sharding, no
// shuffling) and returns them as evaluator rows. User and item keys come from the source's raw
// ids, as in a predictions file, so a checkpoint's report pairs with a predictions file's.
#pragma once

#include <string>

#include "comm/communicator.h"
#include "data/options.h"
#include "data/predictions.h"
#include "model/options.h"

namespace recprism::eval {

struct ScoringStats {
  int64_t samples = 0;   // scored on this rank
  double seconds = 0;
  std::string model;     // "<heads>/<interaction>, d <d>, <layers> layers"
};

// Model options come from the checkpoint (model_fallback for keys it lacks). Collective (the
// loader agrees the number of steps). Throws Error naming the checkpoint on a mismatch.
data::PredictionRows ScoreSplit(Communicator& comm, const std::string& prepared_path, const std::string& checkpoint,
                                const DataOptions& data, const ModelOptions& model_fallback, const std::string& split,
                                int batch_size, uint64_t seed, ScoringStats* stats = nullptr);

}  // namespace recprism::eval
