// The prepared-dataset model: what `recprism prepare` writes and the loader reads
// (docs/data-format.md describes the HDF5 layout). No HDF5 here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace recprism::data {

constexpr const char* kFormatName = "recprism.interactions";
constexpr int kFormatVersion = 1;

// Event type of a row. Positive behaviours have click = 1; impressions and sampled negatives 0.
enum class Event : uint8_t {
  kImpression = 0,      // a real exposure that was not clicked (logged by the source)
  kClick = 1,           // click / page view / "rated" / "reviewed"
  kFavorite = 2,
  kCart = 3,
  kPurchase = 4,
  kSampledNegative = 5, // an exposure added by negative sampling (not in the source)
};
std::string_view EventName(uint8_t event);

enum class Split : uint8_t { kTrain = 0, kValid = 1, kTest = 2 };
constexpr int kNumSplits = 3;
std::string_view SplitName(uint8_t split);
// "train"|"valid"|"test" -> Split; throws Error(kInvalidArgument).
Split ParseSplit(std::string_view name);

// Interaction rows, column-oriented, sorted by (user, time) in a prepared file.
struct Rows {
  std::vector<int64_t> user;        // dense user id, 0..num_users-1
  std::vector<int64_t> item;        // dense item id, 1..num_items (0 is padding)
  std::vector<int64_t> time;        // unix seconds, or the position in the user's sequence
  std::vector<uint8_t> event;       // Event
  std::vector<uint8_t> click;       // label: clicked (CTR target)
  std::vector<uint8_t> conversion;  // label: converted (CTCVR target; CVR on click = 1)
  std::vector<float> value;         // price, revenue or rating; 0 when the source has none
  std::vector<uint8_t> split;       // Split
  std::vector<int64_t> cat_features;  // row-major [size x num_cat_features]
  std::vector<float> num_features;    // row-major [size x num_num_features]
  int num_cat_features = 0;
  int num_num_features = 0;

  size_t size() const { return user.size(); }
  void Reserve(size_t n);
  void Clear();
  // Appends row i of other (features included; widths must match).
  void AppendFrom(const Rows& other, size_t i);
};

// Side tables and metadata of a prepared file.
struct ItemTable {
  int64_t num_items = 0;                  // ids 1..num_items; row 0 of each column is padding
  std::vector<std::string> raw_id;        // [num_items + 1], the source's id
  std::vector<int64_t> category_offsets;  // [num_items + 2]: categories of item i are values[off[i]:off[i+1]]
  std::vector<int64_t> category_values;   // category ids, 1..num_categories-1 (0 = none)
  std::vector<int64_t> popularity;        // [num_items + 1] positive train rows per item
  int64_t num_categories = 1;             // vocabulary size including 0
  // First category of an item, 0 when it has none.
  int64_t FirstCategory(int64_t item) const {
    return category_offsets[item] < category_offsets[item + 1] ? category_values[category_offsets[item]] : 0;
  }
};

struct UserTable {
  int64_t num_users = 0;
  std::vector<std::string> raw_id;             // [num_users]
  std::vector<int64_t> offsets;                // [num_users + 1]: rows of user u are [off[u], off[u+1])
  std::vector<int64_t> split_rows;             // [num_users x 3]: rows of user u in train/valid/test
  std::vector<std::string> feature_names;      // e.g. age_bucket, gender, occupation
  std::vector<int64_t> feature_cardinality;    // per feature, ids in [0, cardinality)
  std::vector<int64_t> features;               // [num_users x num features]
};

struct SourceFile {
  std::string path;  // as resolved (mirror, cache or download)
  std::string md5;   // of the decompressed content
  int64_t lines = 0;
};

struct Metadata {
  std::string preset;
  std::string source;           // human-readable description of the origin
  std::string time_semantics;   // "unix_seconds" or "order"
  std::string created_at;       // ISO 8601 UTC
  std::string recprism_version;
  std::string params;           // preprocessing parameters, "key=value" lines
  std::vector<SourceFile> sources;
  std::vector<std::string> notes;
  std::vector<std::string> cat_feature_names;
  std::vector<int64_t> cat_feature_cardinality;
  std::vector<std::string> num_feature_names;
  int format_version = kFormatVersion;
};

}  // namespace recprism::data
