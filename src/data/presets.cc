#include "data/presets.h"

#include "core/check.h"
#include "data/presets_parsers.h"
#include "data/sources.h"

namespace recprism::data {

using namespace preset;  // NOLINT: the family parsers

const std::vector<std::string>& PresetNames() {
  static const std::vector<std::string> kNames = {"ml-100k", "ml-1m", "amazon-beauty", "jd", "ali-ccp",
                                                  "aliexpress", "synthetic", "generic"};
  return kNames;
}

RawLog ParsePreset(const DataOptions& o, const std::string& spill_dir, uint64_t seed) {
  const std::string& d = o.dataset;
  if (d == "ml-100k") return ParseMl100k(o, spill_dir);
  if (d == "ml-1m") return ParseMl1m(o, spill_dir, seed);
  if (d == "amazon-beauty") return ParseAmazonBeauty(o, spill_dir);
  if (d == "jd") return ParseJd(o, spill_dir, seed);
  if (d == "ali-ccp") {
    std::string layout = o.layout;
    if (layout == "auto") {
      std::string p;
      layout = FindLocal(o, {"ali-ccp-samples", "torchrechub_ali_ccp_train_sample.csv", "", "", "", ""}, &p) ? "csv" : "feasign";
    }
    return layout == "csv" ? ParseAliCcpCsv(o, spill_dir) : ParseAliCcpFeasign(o, spill_dir);
  }
  if (d == "aliexpress") return ParseAliExpress(o, spill_dir);
  if (d == "generic") return ParseGeneric(o, spill_dir);
  RP_THROW(StatusCode::kInvalidConfig, "data.dataset '{}' is not a preset that is parsed from files", d);
}

}  // namespace recprism::data
