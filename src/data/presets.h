// Dataset presets: each parses its source files (resolved through sources.h) into a RawLog.
// Label definitions per preset are documented in docs/datasets.md. Internal to the data module.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/options.h"
#include "data/raw_log.h"

namespace recprism::data {

// Preset names accepted by ParsePreset (synthetic is generated, not parsed).
const std::vector<std::string>& PresetNames();

// Parses the preset's sources. Malformed rows throw Error(kDataError) naming file, line and an
// excerpt, or are counted in RawLog::skipped_rows when options.on_bad_row == "skip".
// `spill_dir`, when not empty, lets a generic log larger than its share of data.memory_budget_mb
// move its rows to disk there as it is parsed (RawLog::spill). `seed` drives the seeded parts of a
// parse (data.history_order: shuffled).
RawLog ParsePreset(const DataOptions& options, const std::string& spill_dir = "", uint64_t seed = 0);

}  // namespace recprism::data
