// Shared by the dataset presets' parsers (presets_*.cc): bad-row policy, line iteration over a
// source file, user features, item attributes and the sequence-file layout. Internal to the data
// module.
#pragma once

#include <cctype>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/check.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "core/log.h"
#include "data/sources.h"
#include "data/text_input.h"
#include "data/options.h"
#include "data/raw_log.h"

namespace recprism::data::preset {

class BadRows {
 public:
  BadRows(const DataOptions& o, RawLog* log) : skip_(o.on_bad_row == "skip"), log_(log) {}
  // Fails or counts a malformed row.
  void Report(const LineReader& r, std::string_view line, const std::string& why) {
    Report(r.path(), r.line_number(), line, why);
  }
  void Report(const std::string& path, int64_t line_number, std::string_view line, const std::string& why) {
    if (!skip_) {
      RP_THROW(StatusCode::kDataError, "{}:{}: {}; the line reads '{}' (data.on_bad_row: skip skips such rows)",
               path, line_number, why, Excerpt(line));
    }
    if (++log_->skipped_rows <= 5) RP_LOG_WARN("skipping {}:{}: {}", path, line_number, why);
  }

 private:
  bool skip_;
  RawLog* log_;
};

// Reads every line of a source file, then verifies its checksum and records it.
template <typename F>
void ForEachLine(const DataOptions& o, const KnownFile& kf, RawLog& log, F&& on_line) {
  const std::string path = ResolveFile(o, kf);
  LineReader reader(path);
  std::string line;
  while (reader.Next(&line)) {
    if (line.empty()) continue;
    on_line(reader, line);
    log.MaybeSpill();
  }
  const std::string md5 = reader.Md5Hex();
  VerifyChecksum(kf, path, md5);
  log.sources.push_back(SourceFile{path, md5, reader.line_number()});
}

inline std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

inline std::string_view TrimView(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// data.history_order: shuffled. A Fisher-Yates shuffle of one user's n entries, seeded by the
// run seed and the user's source id, so a user's order does not depend on the other users.
template <typename T>
void ShuffleUserHistory(std::string_view user, uint64_t seed, T* first, size_t n) {
  std::mt19937_64 rng(Fnv1a64(user, 0xcbf29ce484222325ULL ^ (seed * 0x9e3779b97f4a7c15ULL)));
  for (; n > 1; --n) std::swap(first[n - 1], first[rng() % n]);
}

// The shuffled positions of a file without timestamps whose first field is the user: see
// presets_util.cc.
std::vector<int64_t> ShuffledLinePositions(const std::string& path, char delimiter, uint64_t seed);

// Age in years to a coarse bucket id (user feature).
int64_t AgeBucket(int64_t age);

// Declares the log's user feature columns, then adds one user's values (interned per column).
void SetUserFeatures(RawLog& log, std::vector<std::string> names);
void AddUserFeatureRow(RawLog& log, int64_t user, const std::vector<std::string>& values);

// Declares the log's row feature columns (categorical and numeric).
void SetRowFeatures(RawLog& log, std::vector<std::string> cat, std::vector<std::string> num);

// Stored as float: a finite number within float's range.
inline bool FitsFloat(double d) { return std::isfinite(d) && std::fabs(d) <= static_cast<double>(FLT_MAX); }

// Parses {"item": [attr, ...], ...} (attribute ids are integers or strings) and attaches the
// attributes of items already in the log as their categories. Throws on malformed JSON with the
// byte offset. Returns the number of entries for items that have no interactions.
int64_t ParseItemAttributes(const std::string& text, const std::string& path, RawLog& log);

// The sequence-file layout of the S3-Rec and RecBole releases: one user per line, `user item item
// ...` in chronological order. Every item is a positive (click = 1; conversion as given); time is
// the position in the user's sequence. A user on two lines is a malformed row.
class SequenceReader {
 public:
  SequenceReader(RawLog& log, BadRows& bad, uint8_t conversion, bool integer_ids)
      : log_(log), bad_(bad), conversion_(conversion), integer_ids_(integer_ids) {
    log_.implicit = true;
    log_.time_semantics = "order";
    log_.default_split = "leave_one_out";
  }
  // delimiter ' ' splits on runs of blanks (trailing blanks are not fields).
  void Line(const LineReader& r, const std::string& line, char delimiter) {
    fields_.clear();
    if (delimiter == ' ') {
      size_t k = 0;
      while (k < line.size()) {
        while (k < line.size() && (line[k] == ' ' || line[k] == '\t')) ++k;
        const size_t s = k;
        while (k < line.size() && line[k] != ' ' && line[k] != '\t') ++k;
        if (k > s) fields_.emplace_back(line.data() + s, k - s);
      }
    } else {
      SplitFields(line, delimiter, &fields_);
    }
    if (fields_.size() < 2) {
      return bad_.Report(r, line, fmt::format("expected 'user item1 item2 ...' (a user and at least one item), found "
                                              "{} field{}", fields_.size(), fields_.size() == 1 ? "" : "s"));
    }
    for (auto field : fields_) {
      int64_t tmp;
      if (field.empty()) return bad_.Report(r, line, "an empty id (two delimiters in a row)");
      if (integer_ids_ && !ParseInt64(field, &tmp)) {
        return bad_.Report(r, line, fmt::format("id '{}' is not an integer", Excerpt(field, 40)));
      }
    }
    const int64_t before = log_.users.size();
    const int64_t u = log_.users.Intern(fields_[0]);
    if (u < before) {
      const int64_t first = first_line_[u];
      return bad_.Report(r, line, fmt::format("user '{}' already has a sequence on line {}; a user's sequence is one "
                                              "line", Excerpt(fields_[0], 40), first));
    }
    first_line_.push_back(r.line_number());
    for (size_t k = 1; k < fields_.size(); ++k) {
      log_.Add(u, log_.items.Intern(fields_[k]), static_cast<int64_t>(k - 1), Event::kClick, 1, conversion_, 0.0f, -1);
    }
  }

 private:
  RawLog& log_;
  BadRows& bad_;
  uint8_t conversion_;
  bool integer_ids_;
  std::vector<std::string_view> fields_;
  std::vector<int64_t> first_line_;  // per user index
};

}  // namespace recprism::data::preset
