// The parsers of the dataset presets, one file per family (presets_<family>.cc), each turning its
// source files into a RawLog. ParsePreset (presets.h) dispatches to them. Internal to the data
// module.
#pragma once

#include <cstdint>
#include <string>

#include "data/options.h"
#include "data/raw_log.h"

namespace recprism::data::preset {

RawLog ParseMl100k(const DataOptions& o, const std::string& spill_dir);                 // presets_movielens.cc
RawLog ParseMl1m(const DataOptions& o, const std::string& spill_dir, uint64_t seed);    // presets_movielens.cc
RawLog ParseAmazonBeauty(const DataOptions& o, const std::string& spill_dir);           // presets_sequences.cc
RawLog ParseJd(const DataOptions& o, const std::string& spill_dir, uint64_t seed);      // presets_jd.cc
RawLog ParseAliCcpCsv(const DataOptions& o, const std::string& spill_dir);              // presets_esmm.cc
RawLog ParseAliCcpFeasign(const DataOptions& o, const std::string& spill_dir);          // presets_esmm.cc
RawLog ParseAliExpress(const DataOptions& o, const std::string& spill_dir);             // presets_esmm.cc
RawLog ParseGeneric(const DataOptions& o, const std::string& spill_dir);                // presets_generic.cc

}  // namespace recprism::data::preset
