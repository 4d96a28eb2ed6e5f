#include "data/presets_parsers.h"

#include "data/presets_util.h"

namespace recprism::data::preset {
namespace {

// ---------------------------------------------------------------- Amazon Beauty (S3-Rec)
const KnownFile kBeautySeq{"amazon-beauty", "Beauty.txt", "cb03635343187f36526ed4ba48102b53",
                           "https://raw.githubusercontent.com/RUCAIBox/CIKM2020-S3Rec/master/data/Beauty.txt", "", ""};
const KnownFile kBeautyAttr{"amazon-beauty", "Beauty_item2attributes.json", "d4955784543b9e8e68385db31cb30144",
                            "https://raw.githubusercontent.com/RUCAIBox/CIKM2020-S3Rec/master/data/"
                            "Beauty_item2attributes.json",
                            "", ""};


}  // namespace

RawLog ParseAmazonBeauty(const DataOptions& o, const std::string& spill_dir) {
  RawLog log;
  log.EnableSpill(spill_dir, o.memory_budget_mb);
  BadRows bad(o, &log);
  log.source = "Amazon Beauty 5-core (McAuley et al.), S3-Rec preprocessing: one chronological sequence per user";
  log.notes.push_back("amazon-beauty: one behaviour (review); click = reviewed, conversion = reviewed (a review "
                      "implies a purchase), so CVR on clicks is 1 by construction. Time is the position in the "
                      "user's chronological sequence.");
  SequenceReader seq(log, bad, /*conversion=*/1, /*integer_ids=*/true);
  ForEachLine(o, kBeautySeq, log, [&](const LineReader& r, const std::string& line) { seq.Line(r, line, ' '); });
  std::string text;
  ForEachLine(o, kBeautyAttr, log, [&](const LineReader&, const std::string& line) { text += line; });
  const int64_t unknown = ParseItemAttributes(text, log.sources.back().path, log);
  if (unknown > 0) {
    log.notes.push_back(fmt::format("amazon-beauty: {} attribute entries name items without interactions and were "
                                    "ignored", unknown));
  }
  return log;
}


}  // namespace recprism::data::preset
