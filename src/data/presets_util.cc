#include "data/presets_util.h"

#include <algorithm>
#include <map>

namespace recprism::data::preset {

// The shuffled positions of a file without timestamps whose first field is the user: the
// result maps each line number to another line number of the same user, a random permutation
// per user (a header line maps to itself).
std::vector<int64_t> ShuffledLinePositions(const std::string& path, char delimiter, uint64_t seed) {
  std::map<std::string, std::vector<int64_t>> lines;
  LineReader reader(path);
  std::string line;
  int64_t last = 0;
  while (reader.Next(&line)) {
    last = reader.line_number();
    if (line.empty()) continue;
    lines[std::string(TrimView(std::string_view(line).substr(0, line.find(delimiter))))].push_back(last);
  }
  std::vector<int64_t> position(static_cast<size_t>(last) + 1);
  for (auto& [user, at] : lines) {
    std::vector<int64_t> to = at;
    ShuffleUserHistory(user, seed, to.data(), to.size());
    for (size_t k = 0; k < at.size(); ++k) position[static_cast<size_t>(at[k])] = to[k];
  }
  return position;
}

// MovieLens age codes (ML-1M's buckets), also used to bucket ML-100K's raw ages.
int64_t AgeBucket(int64_t age) {
  if (age < 18) return 1;
  if (age < 25) return 18;
  if (age < 35) return 25;
  if (age < 45) return 35;
  if (age < 50) return 45;
  if (age < 56) return 50;
  return 56;
}

void SetUserFeatures(RawLog& log, std::vector<std::string> names) {
  log.user_feature_names = std::move(names);
  log.user_feature_vocab.assign(log.user_feature_names.size(), Interner());
}

void AddUserFeatureRow(RawLog& log, int64_t user, const std::vector<std::string>& values) {
  std::vector<int64_t> ids;
  for (size_t k = 0; k < values.size(); ++k) ids.push_back(log.user_feature_vocab[k].Intern(values[k]) + 1);
  log.user_features[user] = std::move(ids);
}

void SetRowFeatures(RawLog& log, std::vector<std::string> cat, std::vector<std::string> num) {
  log.cat_feature_names = std::move(cat);
  log.num_feature_names = std::move(num);
  log.cat_feature_vocab.assign(log.cat_feature_names.size(), Interner());
}


// Parses {"item": [attr, ...], ...} (attribute ids are integers or strings) and attaches the
// attributes of items already in the log as their categories. Throws on malformed JSON with the
// byte offset. Returns the number of entries for items that have no interactions.
int64_t ParseItemAttributes(const std::string& text, const std::string& path, RawLog& log) {
  size_t p = 0;
  int64_t unknown = 0;
  auto ws = [&] { while (p < text.size() && std::isspace(static_cast<unsigned char>(text[p]))) ++p; };
  auto fail = [&](const char* what) {
    RP_THROW(StatusCode::kDataError, "{}: malformed JSON at byte {}: expected {}, found '{}'", path, p, what,
             p < text.size() ? Excerpt(text.substr(p, 20)) : std::string("end of file"));
  };
  auto expect = [&](char c, const char* what) {
    ws();
    if (p >= text.size() || text[p] != c) fail(what);
    ++p;
  };
  auto quoted = [&](const char* what) {
    expect('"', what);
    const size_t end = text.find('"', p);
    if (end == std::string::npos) fail("a closing quote");
    std::string v = text.substr(p, end - p);
    p = end + 1;
    return v;
  };
  expect('{', "'{'");
  ws();
  if (p < text.size() && text[p] == '}') return 0;
  for (;;) {
    std::string key = quoted("a quoted item id");
    expect(':', "':'");
    expect('[', "'['");
    std::vector<std::string> attributes;
    ws();
    if (p < text.size() && text[p] != ']') {
      for (;;) {
        ws();
        if (p < text.size() && text[p] == '"') {
          attributes.push_back(quoted("an attribute id"));
        } else {
          const size_t s = p;
          while (p < text.size() && (std::isdigit(static_cast<unsigned char>(text[p])) || text[p] == '-')) ++p;
          if (s == p) fail("an attribute id");
          attributes.push_back(text.substr(s, p - s));
        }
        ws();
        if (p < text.size() && text[p] == ',') { ++p; continue; }
        break;
      }
    }
    expect(']', "']'");
    const int64_t item = log.items.Find(key);
    if (item >= 0) {
      std::vector<int64_t> cats;
      for (const auto& a : attributes) cats.push_back(log.CategoryId(a));
      log.item_categories[item] = std::move(cats);
    } else {
      ++unknown;
    }
    ws();
    if (p < text.size() && text[p] == ',') { ++p; continue; }
    expect('}', "',' or '}'");
    break;
  }
  ws();
  if (p < text.size()) fail("the end of the file after the closing '}'");
  return unknown;
}

}  // namespace recprism::data::preset
