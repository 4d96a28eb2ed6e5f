#include "data/presets_parsers.h"

#include <algorithm>
#include <map>

#include "data/presets_util.h"

namespace recprism::data::preset {
namespace {

// ---------------------------------------------------------------- ESMM-format fixtures
// A log of logged impressions whose files define the splits and whose time is the row order.
RawLog ImpressionLog(std::string source) {
  RawLog log;
  log.has_source_split = true;
  log.default_split = "source";
  log.time_semantics = "order";
  log.source = std::move(source);
  log.notes.push_back("labels: click and conversion are the logged labels of each impression (ESMM's entire space: "
                      "a conversion implies a click, rows breaking that are malformed); no negatives are sampled");
  return log;
}

// ESMM labels: both 0/1, and a conversion implies a click. Reports the row otherwise.
bool EsmmLabels(BadRows& bad, const LineReader& r, std::string_view line, std::string_view click_text,
                std::string_view conv_text, const char* conv_name, uint8_t* click, uint8_t* conv) {
  int64_t c, v;
  if (!ParseInt64(click_text, &c) || !ParseInt64(conv_text, &v) || c < 0 || c > 1 || v < 0 || v > 1) {
    bad.Report(r, line, fmt::format("click and {} must be 0 or 1", conv_name));
    return false;
  }
  if (v == 1 && c == 0) {
    bad.Report(r, line, fmt::format("{} = 1 without click violates impression -> click -> {}", conv_name, conv_name));
    return false;
  }
  *click = static_cast<uint8_t>(c);
  *conv = static_cast<uint8_t>(v);
  return true;
}

// The numeric fields at `cols` as floats. Reports the row when one is not a number.
bool NumericFields(BadRows& bad, const LineReader& r, std::string_view line, const std::vector<std::string_view>& f,
                   const std::vector<int>& cols, const std::vector<std::string>& header, std::vector<float>* out) {
  out->clear();
  for (int k : cols) {
    double d;
    if (!ParseFloat(f[k], &d) || !FitsFloat(d)) {
      bad.Report(r, line, fmt::format("field {} is not a number that fits a 32-bit float", Excerpt(header[k], 40)));
      return false;
    }
    out->push_back(static_cast<float>(d));
  }
  return true;
}

// Appends a logged impression (clicked, converted or neither) with its row features.
void AddImpression(RawLog& log, int64_t u, int64_t i, int64_t row, uint8_t click, uint8_t conv, Split split,
                   const std::vector<int64_t>& cat_ids, const std::vector<float>& nums) {
  log.cat_features.insert(log.cat_features.end(), cat_ids.begin(), cat_ids.end());
  log.num_features.insert(log.num_features.end(), nums.begin(), nums.end());
  log.Add(u, i, row, conv ? Event::kPurchase : click ? Event::kClick : Event::kImpression, click, conv, 0.0f,
          static_cast<int8_t>(split));
}

// Header handling for sources split over several CSV files: the first file's header defines the
// columns (returns 1), a later file must repeat it (returns 2), a data line returns 0. Also
// rejects data lines whose field count differs from the header's.
int HeaderOrWidth(BadRows& bad, const LineReader& r, const std::string& line, const std::vector<std::string_view>& f,
                  std::vector<std::string>* header) {
  if (r.line_number() == 1) {
    std::vector<std::string> h(f.begin(), f.end());
    if (header->empty()) {
      *header = std::move(h);
      return 1;
    }
    RP_REQUIRE(h == *header, StatusCode::kDataError, "{}:1: header differs from the first file's", r.path());
    return 2;
  }
  if (f.size() != header->size()) {
    bad.Report(r, line, fmt::format("expected {} fields, found {}", header->size(), f.size()));
    return 2;
  }
  return 0;
}

// Interned ids (1-based; 0 = missing) of the categorical fields at `cols`.
std::vector<int64_t> CategoricalIds(RawLog& log, const std::vector<std::string_view>& f, const std::vector<int>& cols) {
  std::vector<int64_t> ids;
  for (size_t k = 0; k < cols.size(); ++k) ids.push_back(log.cat_feature_vocab[k].Intern(Trim(f[cols[k]])) + 1);
  return ids;
}

}  // namespace

RawLog ParseAliCcpCsv(const DataOptions& o, const std::string& spill_dir) {
  RawLog log = ImpressionLog("Ali-CCP (Alibaba, ESMM paper), torch-rechub CSV layout: click, purchase, 23 categorical "
                             "fields, 8 dense");
  log.EnableSpill(spill_dir, o.memory_budget_mb);
  BadRows bad(o, &log);
  const KnownFile files[3] = {
      {"ali-ccp-samples", "torchrechub_ali_ccp_train_sample.csv", "398ec366c4a8a89e1503e5536793702a", "", "", ""},
      {"ali-ccp-samples", "torchrechub_ali_ccp_val_sample.csv", "2cbd54519f6d6deb02443abfdea1e74e", "", "", ""},
      {"ali-ccp-samples", "torchrechub_ali_ccp_test_sample.csv", "94c6f50b5fcd38afb98050dd886d7f5d", "", "", ""}};
  std::vector<std::string_view> f;
  std::vector<std::string> header;
  std::vector<int> cat_cols, num_cols;
  int c_click = -1, c_buy = -1, c_user = -1, c_item = -1, c_cat = -1;
  for (int s = 0; s < 3; ++s) {
    int64_t row = 0;
    ForEachLine(o, files[s], log, [&](const LineReader& r, const std::string& line) {
      SplitFields(line, ',', &f);
      const int kind = HeaderOrWidth(bad, r, line, f, &header);
      if (kind == 1) {
        const std::vector<std::string>& h = header;
        for (size_t k = 0; k < h.size(); ++k) {
          if (h[k] == "click") c_click = static_cast<int>(k);
          else if (h[k] == "purchase") c_buy = static_cast<int>(k);
          else if (!h[k].empty() && h[k][0] == 'D') num_cols.push_back(static_cast<int>(k));
          else cat_cols.push_back(static_cast<int>(k));
          if (h[k] == "101") c_user = static_cast<int>(k);
          if (h[k] == "205") c_item = static_cast<int>(k);
          if (h[k] == "206") c_cat = static_cast<int>(k);
        }
        RP_REQUIRE(c_click >= 0 && c_buy >= 0 && c_user >= 0 && c_item >= 0, StatusCode::kDataError,
                   "{}:1: header must name click, purchase, 101 (user) and 205 (item); found '{}'", r.path(),
                   Excerpt(line));
        std::vector<std::string> cn, nn;
        for (int k : cat_cols) cn.push_back("f" + h[k]);
        for (int k : num_cols) nn.push_back(h[k]);
        SetRowFeatures(log, cn, nn);
      }
      if (kind != 0) return;
      uint8_t click, buy;
      std::vector<float> nums;
      if (!EsmmLabels(bad, r, line, f[c_click], f[c_buy], "purchase", &click, &buy) ||
          !NumericFields(bad, r, line, f, num_cols, header, &nums)) {
        return;
      }
      int64_t u = log.users.Intern(Trim(f[c_user])), i = log.items.Intern(Trim(f[c_item]));
      if (c_cat >= 0 && !log.item_categories.count(i)) log.item_categories[i] = {log.CategoryId(Trim(f[c_cat]))};
      AddImpression(log, u, i, row++, click, buy, static_cast<Split>(s), CategoricalIds(log, f, cat_cols), nums);
    });
  }
  log.notes.push_back("ali-ccp: logged impressions (no negatives sampled); user = field 101, item = field 205, "
                      "category = field 206; time is the row order within each file; splits come from the files.");
  return log;
}

RawLog ParseAliCcpFeasign(const DataOptions& o, const std::string& spill_dir) {
  RawLog log = ImpressionLog("Ali-CCP (Alibaba, ESMM paper), PaddleRec field:feasign layout");
  log.EnableSpill(spill_dir, o.memory_budget_mb);
  BadRows bad(o, &log);
  const KnownFile files[2] = {
      {"ali-ccp-samples", "paddlerec_esmm_train_small.txt", "1d496cdb8eb743672ad32b2a1497738d", "", "", ""},
      {"ali-ccp-samples", "paddlerec_esmm_test_small.txt", "ef6d8bf4c213c645297170457d616403", "", "", ""}};
  // Single-valued Ali-CCP fields become categorical features; multi-valued ones become counts.
  const std::vector<std::string> single = {"101", "121", "122", "124", "125", "126", "127", "128", "129", "205",
                                           "206", "207", "210", "216", "508", "509", "702", "853", "301"};
  const std::vector<std::string> multi = {"109_14", "110_14", "127_14", "150_14"};
  std::vector<std::string> cn, nn;
  for (const auto& s : single) cn.push_back("f" + s);
  for (const auto& m : multi) nn.push_back("n" + m);
  SetRowFeatures(log, cn, nn);
  std::vector<std::string_view> f;
  for (int s = 0; s < 2; ++s) {
    int64_t row = 0;
    ForEachLine(o, files[s], log, [&](const LineReader& r, const std::string& line) {
      SplitFields(line, ',', &f);
      if (f.size() < 4) return bad.Report(r, line, "expected sample_id,click,purchase,field:feasign,...");
      uint8_t click, buy;
      if (!EsmmLabels(bad, r, line, f[1], f[2], "purchase", &click, &buy)) return;
      std::map<std::string, std::string> first;
      std::map<std::string, int> counts;
      for (size_t k = 3; k < f.size(); ++k) {
        auto colon = f[k].find(':');
        if (colon == std::string_view::npos) {
          return bad.Report(r, line, fmt::format("token {} ('{}') is not field:feasign", k + 1, Excerpt(f[k], 30)));
        }
        std::string field(f[k].substr(0, colon));
        first.emplace(field, std::string(f[k].substr(colon + 1)));
        ++counts[field];
      }
      if (!first.count("101") || !first.count("205")) return bad.Report(r, line, "row has no field 101 (user) or 205 (item)");
      int64_t u = log.users.Intern(first["101"]), i = log.items.Intern(first["205"]);
      if (first.count("206") && !log.item_categories.count(i)) log.item_categories[i] = {log.CategoryId(first["206"])};
      std::vector<int64_t> cat_ids;
      for (size_t k = 0; k < single.size(); ++k) {
        auto it = first.find(single[k]);
        cat_ids.push_back(it == first.end() ? 0 : log.cat_feature_vocab[k].Intern(it->second) + 1);
      }
      std::vector<float> nums;
      for (const auto& m : multi) nums.push_back(static_cast<float>(counts[m]));
      AddImpression(log, u, i, row++, click, buy, s == 0 ? Split::kTrain : Split::kTest, cat_ids, nums);
    });
  }
  log.notes.push_back("ali-ccp (feasign): user = field 101, item = field 205, category = field 206 (first feasign); "
                      "single-valued fields are categorical features, multi-valued fields (109_14, 110_14, 127_14, "
                      "150_14) are counted; no validation file in this layout.");
  return log;
}

RawLog ParseAliExpress(const DataOptions& o, const std::string& spill_dir) {
  RawLog log = ImpressionLog("AliExpress multi-task dataset (AITM line of work), torch-rechub layout");
  log.EnableSpill(spill_dir, o.memory_budget_mb);
  BadRows bad(o, &log);
  const KnownFile files[2] = {
      {"aliexpress-samples", "torchrechub_aliexpress_train_sample.csv", "0f945ece360b22d97fe1f4613c4e5488", "", "", ""},
      {"aliexpress-samples", "torchrechub_aliexpress_test_sample.csv", "8b9f01ef9697daa4b34f20521dea3871", "", "", ""}};
  std::vector<std::string_view> f;
  std::vector<std::string> header;
  std::vector<int> cat_cols, num_cols;
  int c_search = -1, c_click = -1, c_conv = -1;
  for (int s = 0; s < 2; ++s) {
    int64_t row = 0;
    ForEachLine(o, files[s], log, [&](const LineReader& r, const std::string& line) {
      SplitFields(line, ',', &f);
      const int kind = HeaderOrWidth(bad, r, line, f, &header);
      if (kind == 1) {
        const std::vector<std::string>& h = header;
        std::vector<std::string> cn, nn;
        for (size_t k = 0; k < h.size(); ++k) {
          if (h[k] == "search_id") c_search = static_cast<int>(k);
          else if (h[k] == "click") c_click = static_cast<int>(k);
          else if (h[k] == "conversion") c_conv = static_cast<int>(k);
          else if (h[k].rfind("categorical_", 0) == 0) { cat_cols.push_back(static_cast<int>(k)); cn.push_back(h[k]); }
          else if (h[k].rfind("numerical_", 0) == 0) { num_cols.push_back(static_cast<int>(k)); nn.push_back(h[k]); }
        }
        RP_REQUIRE(c_search >= 0 && c_click >= 0 && c_conv >= 0, StatusCode::kDataError,
                   "{}:1: header must name search_id, click and conversion; found '{}'", r.path(), Excerpt(line));
        SetRowFeatures(log, cn, nn);
      }
      if (kind != 0) return;
      uint8_t click, conv;
      std::vector<float> nums;
      if (!EsmmLabels(bad, r, line, f[c_click], f[c_conv], "conversion", &click, &conv) ||
          !NumericFields(bad, r, line, f, num_cols, header, &nums)) {
        return;
      }
      std::string item_key;
      for (int k : cat_cols) item_key += std::string(f[k]) + "|";
      int64_t u = log.users.Intern(Trim(f[c_search])), i = log.items.Intern(item_key);
      AddImpression(log, u, i, row++, click, conv, s == 0 ? Split::kTrain : Split::kTest,
                    CategoricalIds(log, f, cat_cols), nums);
    });
  }
  log.notes.push_back("aliexpress: the source has no user or item ids: 'user' is the search_id (query session) and "
                      "'item' is the distinct tuple of the 16 categorical fields; no validation file.");
  return log;
}


}  // namespace recprism::data::preset
