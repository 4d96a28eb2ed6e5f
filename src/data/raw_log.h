// A source log as parsed by a preset, before ids are made dense, rows sorted, splits assigned and
// negatives sampled (prepare.cc). Internal to the data module.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "data/format.h"
#include "data/interner.h"
#include "data/row_spill.h"

namespace recprism::data {

struct RawLog {
  Interner users, items;
  std::vector<int64_t> user, item, time;  // user/item: interner indices
  std::vector<uint8_t> event, click, conversion;
  std::vector<float> value;
  std::vector<int8_t> split;  // -1: assigned by the split protocol; else a source split

  std::vector<std::string> cat_feature_names, num_feature_names;
  std::vector<Interner> cat_feature_vocab;  // per categorical feature: value -> id (0 reserved for missing)
  std::vector<int64_t> cat_features;        // [rows x cat features]
  std::vector<float> num_features;          // [rows x num features]

  Interner categories;                                      // category vocabulary (id = index + 1)
  std::unordered_map<int64_t, std::vector<int64_t>> item_categories;  // item index -> category ids

  std::vector<std::string> user_feature_names;
  std::vector<Interner> user_feature_vocab;                 // value -> id (0 reserved for missing)
  std::unordered_map<int64_t, std::vector<int64_t>> user_features;    // user index -> feature ids

  // (user, item) interactions that are not rows (e.g. jd's favourite-only pairs, outside the
  // label space) but still count as touched: a sampled negative is never one of them.
  std::vector<std::pair<int64_t, int64_t>> touched_only;
  bool implicit = false;       // positives only: negatives are sampled
  bool has_source_split = false;
  std::string default_split = "leave_one_out";
  std::string time_semantics = "unix_seconds";
  std::string source;          // description
  std::vector<SourceFile> sources;
  std::vector<std::string> notes;
  int64_t skipped_rows = 0;

  // Rows moved to disk while parsing a log larger than data.memory_budget_mb; null when every row
  // is in the columns above. EnableSpill lets MaybeSpill (called by the parsers after each source
  // line) create it once the rows fill half the budget.
  std::shared_ptr<RowSpill> spill;
  std::string spill_dir;
  int64_t spill_budget_mb = 0;
  void EnableSpill(const std::string& dir, int64_t budget_mb) {
    spill_dir = dir;
    spill_budget_mb = budget_mb;
  }
  void MaybeSpill();

  // Rows held in memory (all of them unless spilled).
  size_t size() const { return user.size(); }
  int64_t total_rows() const { return static_cast<int64_t>(size()) + (spill ? spill->rows() : 0); }
  void Add(int64_t u, int64_t i, int64_t t, Event ev, uint8_t c, uint8_t conv, float val, int8_t sp) {
    user.push_back(u);
    item.push_back(i);
    time.push_back(t);
    event.push_back(static_cast<uint8_t>(ev));
    click.push_back(c);
    conversion.push_back(conv);
    value.push_back(val);
    split.push_back(sp);
  }
  int64_t CategoryId(std::string_view name) { return categories.Intern(name) + 1; }
};

}  // namespace recprism::data
