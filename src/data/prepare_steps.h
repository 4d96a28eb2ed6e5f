// The steps of `Prepare` (prepare.h) shared by its two pipelines: prepare.cc (the synthetic
// generator, the prepared-file check and the entry point) and prepare_log.cc (a parsed log, phase
// by phase). Internal to the data module.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "data/options.h"
#include "data/prepare.h"
#include "data/raw_log.h"

namespace recprism::data::prepare_detail {

using Clock = std::chrono::steady_clock;

// The current UTC time as ISO 8601 (the prepared file's created_at).
std::string NowIso();

// Split protocol for one user's rows (in time order). `positive[k]` marks behaviour rows.
struct SplitPlan {
  std::string protocol;           // leave_one_out, temporal_global, temporal_user, random, source
  int64_t cut_valid = 0, cut_test = 0;  // temporal_global: time thresholds
  double ratios[3] = {0.7, 0.15, 0.15};
  uint64_t seed = 0;
};

// Assigns split[k] (train, valid or test) to one user's n rows in time order under plan; positive[k]
// marks behaviour rows; user_key seeds the random protocol.
void AssignUserSplits(const SplitPlan& plan, const int64_t* time, const uint8_t* positive, size_t n, uint64_t user_key,
                      uint8_t* split);

// The preparation options recorded in a prepared file (key=value lines; CheckPreparedMatches
// compares them).
std::string ParamsText(const DataOptions& o, const std::string& protocol, uint64_t seed);

// data.split resolved: auto -> the preset's default; temporal -> temporal_global (unix seconds) or
// temporal_user. Throws Error(kInvalidConfig) for source on a dataset without source splits.
std::string ResolveProtocol(const DataOptions& o, const std::string& preset_default, bool has_source_split,
                            const std::string& time_semantics);

// A parsed log into the prepared file `output` (prepare_log.cc).
PrepareReport PrepareFromLog(const DataOptions& o, RawLog log, const std::string& output, uint64_t seed);

}  // namespace recprism::data::prepare_detail
