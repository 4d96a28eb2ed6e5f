#include "data/format.h"

#include "core/check.h"

namespace recprism::data {

std::string_view EventName(uint8_t event) {
  switch (static_cast<Event>(event)) {
    case Event::kImpression: return "impression";
    case Event::kClick: return "click";
    case Event::kFavorite: return "favorite";
    case Event::kCart: return "cart";
    case Event::kPurchase: return "purchase";
    case Event::kSampledNegative: return "sampled_negative";
  }
  return "unknown";
}

std::string_view SplitName(uint8_t split) {
  switch (split) {
    case 0: return "train";
    case 1: return "valid";
    case 2: return "test";
  }
  return "unknown";
}

Split ParseSplit(std::string_view name) {
  if (name == "train") return Split::kTrain;
  if (name == "valid") return Split::kValid;
  if (name == "test") return Split::kTest;
  RP_THROW(StatusCode::kInvalidArgument, "split '{}' is not one of train, valid, test", name);
}

void Rows::Reserve(size_t n) {
  user.reserve(n); item.reserve(n); time.reserve(n); event.reserve(n); click.reserve(n);
  conversion.reserve(n); value.reserve(n); split.reserve(n);
  cat_features.reserve(n * num_cat_features);
  num_features.reserve(n * num_num_features);
}

void Rows::Clear() {
  user.clear(); item.clear(); time.clear(); event.clear(); click.clear();
  conversion.clear(); value.clear(); split.clear(); cat_features.clear(); num_features.clear();
}

void Rows::AppendFrom(const Rows& o, size_t i) {
  user.push_back(o.user[i]);
  item.push_back(o.item[i]);
  time.push_back(o.time[i]);
  event.push_back(o.event[i]);
  click.push_back(o.click[i]);
  conversion.push_back(o.conversion[i]);
  value.push_back(o.value[i]);
  split.push_back(o.split[i]);
  for (int k = 0; k < o.num_cat_features; ++k) cat_features.push_back(o.cat_features[i * o.num_cat_features + k]);
  for (int k = 0; k < o.num_num_features; ++k) num_features.push_back(o.num_features[i * o.num_num_features + k]);
}

}  // namespace recprism::data
