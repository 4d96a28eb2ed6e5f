// The report's explainability dimension: permutation importance of each feature group of a
// checkpoint (eval::ScorePermutedGroups; Breiman 2001, as scikit-learn's permutation_importance).
#pragma once

#include <string>

#include "comm/communicator.h"
#include "data/options.h"
#include "eval/options.h"
#include "eval/report.h"
#include "model/options.h"

namespace recprism::eval {

// For each feature group, the drop in AUC (CTR and CTCVR) and the rise in CTR logloss of the
// checkpoint's scores of `split` with the group permuted, against `report` (the unpermuted
// evaluation of the same rows), with paired bootstrap intervals: both evaluations give a user the
// same bootstrap weights, so the difference is taken replicate by replicate. Collective; one
// scoring pass and one evaluation per group.
void AddPermutationImportance(Report* report, Communicator& comm, const EvalOptions& eval_options,
                              const DataOptions& data, const ModelOptions& model, const std::string& prepared,
                              const std::string& checkpoint, const std::string& split, uint64_t seed);

}  // namespace recprism::eval
