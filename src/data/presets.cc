#include "data/presets.h"

#include <algorithm>
#include <cctype>
#include <cfloat>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <set>

#include <filesystem>

#include "core/check.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "core/log.h"
#include "data/sources.h"
#include "data/text_input.h"

namespace recprism::data {
namespace {

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

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::string_view TrimView(std::string_view s) {
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

// ---------------------------------------------------------------- MovieLens
const KnownFile kMl100kData{"ml-100k", "u.data", "6e47046882bad158b0efbb84cd5cb987",
                            "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
                            "0e33842e24a9c977be4e0107933c0723", "ml-100k/u.data"};
const KnownFile kMl100kItem{"ml-100k", "u.item", "c9e7f390115d79079537301d5204f3f7",
                            "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
                            "0e33842e24a9c977be4e0107933c0723", "ml-100k/u.item"};
const KnownFile kMl100kUser{"ml-100k", "u.user", "1b53539edc13caad0282c8500608a319",
                            "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
                            "0e33842e24a9c977be4e0107933c0723", "ml-100k/u.user"};
const KnownFile kMl100kGenre{"ml-100k", "u.genre", "a7578bdb37758741ae9429d2c736af18", "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
                             "0e33842e24a9c977be4e0107933c0723", "ml-100k/u.genre"};
const KnownFile kMl1mRatingsDat{"ml-1m", "ratings.dat", "", "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
                                "c4d9eecfca2ab87c1945afe126590906", "ml-1m/ratings.dat"};
const KnownFile kMl1mRatingsCsv{"ml-1m", "ratings_no_timestamp.csv", "7a450e039b5e4c06e8ad634da0cde0f8", "", "", ""};
const KnownFile kMl1mMovies{"ml-1m", "movies.dat", "ef9fd9ff8d1b33faf73e2122c371e910",
                            "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
                            "c4d9eecfca2ab87c1945afe126590906", "ml-1m/movies.dat"};
const KnownFile kMl1mUsers{"ml-1m", "users.dat", "681c0711d0d4548cd3d4718a49c2dcd8",
                           "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
                           "c4d9eecfca2ab87c1945afe126590906", "ml-1m/users.dat"};

// A rating row: click = rated, conversion = rating >= 4, value = rating.
constexpr const char* kMovieLensLabels =
    "labels: every rating is a positive (click = rated, event = click); conversion = rating >= 4 (liked); value = "
    "the rating (1-5); the unrated exposures are sampled negatives";
bool AddRating(RawLog& log, BadRows& bad, const LineReader& r, std::string_view line,
               const std::vector<std::string_view>& f, size_t expect, bool has_time) {
  if (f.size() != expect) {
    bad.Report(r, line, fmt::format("expected {} fields, found {}", expect, f.size()));
    return false;
  }
  int64_t u, i, rating, t = 0;
  if (!ParseInt64(f[0], &u) || !ParseInt64(f[1], &i) || !ParseInt64(f[2], &rating) ||
      (has_time && !ParseInt64(f[3], &t))) {
    bad.Report(r, line, "user, item, rating and timestamp must be integers");
    return false;
  }
  if (rating < 1 || rating > 5) {
    bad.Report(r, line, fmt::format("rating {} is outside 1..5", rating));
    return false;
  }
  int64_t uid = log.users.Intern(Trim(f[0])), iid = log.items.Intern(Trim(f[1]));
  log.Add(uid, iid, t, Event::kClick, 1, rating >= 4 ? 1 : 0, static_cast<float>(rating), -1);
  return true;
}

RawLog ParseMl100k(const DataOptions& o, const std::string& spill_dir) {
  RawLog log;
  log.EnableSpill(spill_dir, o.memory_budget_mb);
  BadRows bad(o, &log);
  log.implicit = true;
  log.source = "MovieLens 100K (GroupLens): u.data ratings with unix timestamps, u.item genres, u.user demographics";
  log.notes.push_back(kMovieLensLabels);
  std::vector<std::string_view> f;
  std::map<int64_t, std::string> genre_names;
  ForEachLine(o, kMl100kGenre, log, [&](const LineReader&, const std::string& line) {
    SplitFields(line, '|', &f);
    int64_t idx;
    if (f.size() == 2 && ParseInt64(f[1], &idx)) genre_names[idx] = std::string(f[0]);
  });
  ForEachLine(o, kMl100kItem, log, [&](const LineReader& r, const std::string& line) {
    SplitFields(line, '|', &f);
    if (f.size() != 24) return bad.Report(r, line, fmt::format("expected 24 '|'-separated fields, found {}", f.size()));
    int64_t id;
    if (!ParseInt64(f[0], &id)) return bad.Report(r, line, "movie id is not an integer");
    int64_t item = log.items.Intern(Trim(f[0]));
    std::vector<int64_t> cats;
    for (int g = 0; g < 19; ++g) {
      if (f[5 + g] == "1") {
        auto it = genre_names.find(g);
        cats.push_back(log.CategoryId(it != genre_names.end() ? it->second : "genre" + std::to_string(g)));
      }
    }
    log.item_categories[item] = cats;
  });
  ForEachLine(o, kMl100kData, log, [&](const LineReader& r, const std::string& line) {
    SplitFields(line, '\t', &f);
    AddRating(log, bad, r, line, f, 4, true);
  });
  SetUserFeatures(log, {"age_bucket", "gender", "occupation"});
  ForEachLine(o, kMl100kUser, log, [&](const LineReader& r, const std::string& line) {
    SplitFields(line, '|', &f);
    int64_t age;
    if (f.size() != 5 || !ParseInt64(f[1], &age)) return bad.Report(r, line, "expected user|age|gender|occupation|zip");
    int64_t u = log.users.Find(Trim(f[0]));
    if (u >= 0) AddUserFeatureRow(log, u, {std::to_string(AgeBucket(age)), std::string(f[2]), std::string(f[3])});
  });
  return log;
}

RawLog ParseMl1m(const DataOptions& o, const std::string& spill_dir, uint64_t seed) {
  RawLog log;
  log.EnableSpill(spill_dir, o.memory_budget_mb);
  BadRows bad(o, &log);
  log.implicit = true;
  log.notes.push_back(kMovieLensLabels);
  log.notes.push_back("ml-1m: movies.dat lists 3,883 movies, 177 of them never rated; they are in the catalogue "
                      "(item ids, genres) but, by default, never drawn as negatives (data.negative_pool: train)");
  std::vector<std::string_view> f;
  ForEachLine(o, kMl1mMovies, log, [&](const LineReader& r, const std::string& line) {
    SplitFields(line, std::string_view("::"), &f);
    if (f.size() != 3) return bad.Report(r, line, fmt::format("expected MovieID::Title::Genres, found {} fields", f.size()));
    int64_t item = log.items.Intern(Trim(f[0]));
    std::vector<std::string_view> genres;
    SplitFields(f[2], '|', &genres);
    std::vector<int64_t> cats;
    for (auto g : genres) cats.push_back(log.CategoryId(Trim(g)));
    log.item_categories[item] = cats;
  });
  std::string official;
  const bool shuffled = o.history_order == "shuffled";
  if (FindLocal(o, kMl1mRatingsDat, &official)) {
    RP_REQUIRE(!shuffled, StatusCode::kInvalidConfig,
               "data.history_order is 'shuffled' but ml-1m's ratings.dat ({}) has timestamps; use 'source'", official);
    log.source = "MovieLens 1M (GroupLens): ratings.dat with unix timestamps";
    ForEachLine(o, kMl1mRatingsDat, log, [&](const LineReader& r, const std::string& line) {
      SplitFields(line, std::string_view("::"), &f);
      AddRating(log, bad, r, line, f, 4, true);
    });
  } else {
    log.source = "MovieLens 1M (GroupLens): ratings_no_timestamp.csv (no timestamps: order = file order by movie id)";
    log.time_semantics = "order";
    log.notes.push_back(
        shuffled ? fmt::format("ml-1m: the mirror has no timestamps (ratings_no_timestamp.csv); each user's interactions "
                               "are in a random order (data.history_order: shuffled, seed {}), so 'time' is a position and "
                               "leave-one-out holds out random items. Place the official ratings.dat in the mirror for "
                               "real timestamps.",
                               seed)
                 : "ml-1m: the mirror has no timestamps (ratings_no_timestamp.csv); each user's interactions are ordered "
                   "by file order (movie id), so 'time' is a position and leave-one-out holds out the highest movie "
                   "ids. Place the official ratings.dat in the mirror for real timestamps.");
    const std::vector<int64_t> position =
        shuffled ? ShuffledLinePositions(ResolveFile(o, kMl1mRatingsCsv), ',', seed) : std::vector<int64_t>();
    bool header = true;
    ForEachLine(o, kMl1mRatingsCsv, log, [&](const LineReader& r, const std::string& line) {
      if (header) {
        header = false;
        if (line.rfind("user_id", 0) == 0) return;
      }
      SplitFields(line, ',', &f);
      if (AddRating(log, bad, r, line, f, 3, false)) {
        log.time.back() = shuffled ? position[static_cast<size_t>(r.line_number())] : r.line_number();
      }
    });
  }
  SetUserFeatures(log, {"gender", "age_bucket", "occupation"});
  ForEachLine(o, kMl1mUsers, log, [&](const LineReader& r, const std::string& line) {
    SplitFields(line, std::string_view("::"), &f);
    if (f.size() != 5) return bad.Report(r, line, "expected UserID::Gender::Age::Occupation::Zip");
    int64_t u = log.users.Find(Trim(f[0]));
    if (u >= 0) AddUserFeatureRow(log, u, {std::string(f[1]), std::string(f[2]), std::string(f[3])});
  });
  return log;
}

// ---------------------------------------------------------------- Amazon Beauty (S3-Rec)
const KnownFile kBeautySeq{"amazon-beauty", "Beauty.txt", "cb03635343187f36526ed4ba48102b53",
                           "https://raw.githubusercontent.com/RUCAIBox/CIKM2020-S3Rec/master/data/Beauty.txt", "", ""};
const KnownFile kBeautyAttr{"amazon-beauty", "Beauty_item2attributes.json", "d4955784543b9e8e68385db31cb30144",
                            "https://raw.githubusercontent.com/RUCAIBox/CIKM2020-S3Rec/master/data/"
                            "Beauty_item2attributes.json",
                            "", ""};

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

// ---------------------------------------------------------------- JD multi-behaviour
RawLog ParseJd(const DataOptions& o, const std::string& spill_dir, uint64_t seed) {
  RawLog log;
  log.EnableSpill(spill_dir, o.memory_budget_mb);
  BadRows bad(o, &log);
  log.implicit = true;
  log.has_source_split = true;
  log.default_split = "source";
  log.time_semantics = "order";
  log.source = "JD multi-behaviour benchmark (VCGAE): train pv/fav/buy pairs, held-out valid and test purchases";
  const KnownFile files[5] = {{"jd-multibehavior", "trn_pv.tsv", "0958aca3d19290dc08162be7bfaf6e68", "", "", ""},
                              {"jd-multibehavior", "trn_fav.tsv", "efee9cd87fe3f03f54c702ea0543e2ec", "", "", ""},
                              {"jd-multibehavior", "trn_buy.tsv", "b22034d82e03f6f925e3ebbec8d5dee9", "", "", ""},
                              {"jd-multibehavior", "vld_buy.tsv", "a30dc0c5f33cfde0946b4057b77f4f52", "", "", ""},
                              {"jd-multibehavior", "tst_buy.tsv", "63b513ebd74366d95f6d24d6fa4c6270", "", "", ""}};
  // Train pairs keep first-seen order; flags: 1 pv, 2 fav, 4 buy.
  std::vector<std::pair<int64_t, int64_t>> order;
  std::map<std::pair<int64_t, int64_t>, int> flags;
  std::vector<std::string_view> f;
  auto read_pairs = [&](const KnownFile& kf, auto&& on_pair) {
    bool header = true;
    ForEachLine(o, kf, log, [&](const LineReader& r, const std::string& line) {
      if (header) {
        header = false;
        if (line.rfind("user_id", 0) == 0) return;
      }
      SplitFields(line, '\t', &f);
      int64_t a, b;
      if (f.size() != 2) return bad.Report(r, line, fmt::format("expected 2 tab-separated fields, found {}", f.size()));
      if (!ParseInt64(f[0], &a) || !ParseInt64(f[1], &b)) return bad.Report(r, line, "user and item must be integers");
      on_pair(log.users.Intern(Trim(f[0])), log.items.Intern(Trim(f[1])));
    });
  };
  for (int k = 0; k < 3; ++k) {
    const int bit = k == 0 ? 1 : k == 1 ? 2 : 4;
    read_pairs(files[k], [&](int64_t u, int64_t i) {
      auto key = std::make_pair(u, i);
      auto [it, inserted] = flags.emplace(key, 0);
      if (inserted) order.push_back(key);
      it->second |= bit;
    });
  }
  // The files list each user's pairs sorted by item id, so the file order is not time. The
  // shuffled control gives each user's train pairs a random order.
  const bool shuffled = o.history_order == "shuffled";
  if (shuffled) {
    std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t b = 0; b < order.size();) {
      size_t e = b;
      while (e < order.size() && order[e].first == order[b].first) ++e;
      ShuffleUserHistory(log.users.key(order[b].first), seed, order.data() + b, e - b);
      b = e;
    }
  }
  int64_t fav_only = 0;
  std::map<int64_t, int64_t> pos;  // per-user position
  for (const auto& key : order) {
    int fl = flags[key];
    if ((fl & 5) == 0) {
      ++fav_only;
      log.touched_only.push_back(key);
      continue;
    }
    Event ev = (fl & 4) ? Event::kPurchase : (fl & 2) ? Event::kFavorite : Event::kClick;
    log.Add(key.first, key.second, pos[key.first]++, ev, 1, (fl & 4) ? 1 : 0, 0.0f,
            static_cast<int8_t>(Split::kTrain));
    log.MaybeSpill();
  }
  for (int k = 3; k < 5; ++k) {
    const int8_t split = static_cast<int8_t>(k == 3 ? Split::kValid : Split::kTest);
    read_pairs(files[k], [&](int64_t u, int64_t i) { log.Add(u, i, pos[u]++, Event::kPurchase, 1, 1, 0.0f, split); });
  }
  // Keep held-out rows after every train row of the user: positions are per-user counters, and
  // valid/test files are read after the train files, so this already holds.
  log.notes.push_back(fmt::format(
      "jd: the space is pv ∪ buy pairs (click = pv or buy, conversion = buy); {} favourite-only pairs are outside "
      "it and were dropped as rows (a sampled negative is never one of them). No timestamps: time is the position ({}, "
      "then valid, then test purchases). Splits come from the source files.",
      fav_only,
      shuffled ? fmt::format("train pairs in a random order per user, data.history_order: shuffled, seed {}", seed)
               : "train pairs in file order, which lists each user's items by item id"));
  return log;
}

// ---------------------------------------------------------------- ESMM-format fixtures
void SetRowFeatures(RawLog& log, std::vector<std::string> cat, std::vector<std::string> num) {
  log.cat_feature_names = std::move(cat);
  log.num_feature_names = std::move(num);
  log.cat_feature_vocab.assign(log.cat_feature_names.size(), Interner());
}

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

// Stored as float: a finite number within float's range.
bool FitsFloat(double d) { return std::isfinite(d) && std::fabs(d) <= static_cast<double>(FLT_MAX); }

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

// ---------------------------------------------------------------- generic
char Delimiter(const std::string& name, const std::string& first_line) {
  if (name == "tab") return '\t';
  if (name == "comma") return ',';
  if (name == "semicolon") return ';';
  if (name == "pipe") return '|';
  if (name == "space") return ' ';
  for (char c : {'\t', ',', ';', '|'}) {
    if (first_line.find(c) != std::string::npos) return c;
  }
  return ' ';
}

// A generic input path: ~ expanded, relative paths also tried under the mirror, `.gz` appended
// when only the compressed file exists.
std::string GenericPath(const DataOptions& o, const std::string& file) {
  std::string path = ExpandUser(file);
  if (std::filesystem::path(path).is_relative() && !MirrorDir(o).empty() && !std::filesystem::exists(path)) {
    path = MirrorDir(o) + "/" + path;
  }
  if (!std::filesystem::exists(path) && std::filesystem::exists(path + ".gz")) path += ".gz";
  return path;
}

RawLog ParseGenericSequences(const DataOptions& o, const std::string& spill_dir) {
  const GenericMapping& g = o.generic;
  const std::pair<const char*, bool> rows_only[] = {
      {"user", !g.user.empty()},         {"item", !g.item.empty()},     {"time", !g.time.empty()},
      {"event", !g.event.empty()},       {"click", !g.click.empty()},   {"conversion", !g.conversion.empty()},
      {"value", !g.value.empty()},       {"category", !g.category.empty()},
      {"categorical", !g.categorical.empty()}, {"numeric", !g.numeric.empty()}};
  for (const auto& [key, set] : rows_only) {
    RP_REQUIRE(!set, StatusCode::kInvalidConfig,
               "data.generic.{} maps a column, but data.generic.layout is 'sequences' (`user item item ...`, no "
               "columns); remove it or use layout: rows",
               key);
  }
  RawLog log;
  log.EnableSpill(spill_dir, o.memory_budget_mb);
  BadRows bad(o, &log);
  const std::string path = GenericPath(o, g.path);
  log.source = "generic sequences " + path + " (one user per line, items in chronological order)";
  log.notes.push_back("generic sequences: every item of a user's line is a positive (click = 1, conversion = 0, event "
                      "= click); time is the position in the sequence; negatives are sampled");
  char delim = g.delimiter == "tab" ? '\t' : g.delimiter == "comma" ? ',' : g.delimiter == "semicolon" ? ';'
             : g.delimiter == "pipe" ? '|' : ' ';  // auto and space: runs of blanks or tabs
  SequenceReader seq(log, bad, /*conversion=*/0, /*integer_ids=*/false);
  LineReader reader(path);
  std::string line;
  while (reader.Next(&line)) {
    if (line.empty()) continue;
    seq.Line(reader, line, delim);
    log.MaybeSpill();
  }
  log.sources.push_back(SourceFile{path, reader.Md5Hex(), reader.line_number()});
  if (!g.item_attributes.empty()) {
    const std::string apath = GenericPath(o, g.item_attributes);
    LineReader ar(apath);
    std::string text;
    while (ar.Next(&line)) text += line + "\n";
    log.sources.push_back(SourceFile{apath, ar.Md5Hex(), ar.line_number()});
    const int64_t unknown = ParseItemAttributes(text, apath, log);
    log.notes.push_back(fmt::format("generic sequences: item categories are the attributes in {}{}", apath,
                                    unknown > 0 ? fmt::format(" ({} entries for items without interactions ignored)",
                                                              unknown)
                                                : ""));
  }
  return log;
}

// One parsed line of a generic log: numbers parsed and checked, ids still text (in the batch's
// arena, interned later in order on the consuming thread).
struct ParsedRow {
  int64_t line_number = 0;
  std::string error, line;  // a malformed line: why, and the line itself
  int64_t time = 0;
  uint8_t click = 1, conversion = 0;
  Event event = Event::kClick;
  float value = 0;
  uint32_t text_begin = 0;  // the row's id fields in the batch's offsets: user, item, [category], categorical...
};
struct ParsedBatch {
  std::vector<ParsedRow> rows;
  std::string text;
  std::vector<uint32_t> offsets;  // field k of the batch: text[offsets[2k], offsets[2k+1])
  std::vector<float> nums;        // numeric features of the good rows, in order
  std::exception_ptr failure;     // the reader failed (corrupt gzip): rethrown in order
  bool last = false;
};

// The column mapping of a generic log, resolved against its header.
struct GenericColumns {
  char delim = ',';
  size_t width = 0;
  int user = -1, item = -1, time = -1, event = -1, click = -1, conversion = -1, value = -1, category = -1;
  std::vector<int> categorical, numeric;
  std::set<std::string> click_events, conversion_events;
};

// Parses and checks one data line (no shared state: runs on the reader thread).
void ParseGenericLine(const GenericMapping& g, const GenericColumns& c, const std::string& line, int64_t line_number,
                      CsvSplitter& splitter, std::vector<std::string_view>& f, ParsedBatch* batch) {
  ParsedRow row;
  row.line_number = line_number;
  auto fail = [&](std::string why) {
    row.error = std::move(why);
    row.line = line;
    batch->rows.push_back(std::move(row));
  };
  const auto shape = splitter.Split(line, c.delim, &f);
  if (shape != CsvSplitter::Result::kOk) return fail(CsvSplitter::Explain(shape));
  if (f.size() != c.width) return fail(fmt::format("expected {} fields, found {}", c.width, f.size()));
  if (c.time >= 0 && !ParseInt64(f[c.time], &row.time)) {
    double d;
    // from_chars also refuses a number too large for a double: then it is not a timestamp either.
    if (!ParseFloat(f[c.time], &d)) return fail(fmt::format("time '{}' is not a unix timestamp", Excerpt(f[c.time], 40)));
    // ParseInt64 refused it: fractional seconds are truncated, anything beyond int64 is refused.
    if (!(d >= -9.2e18 && d <= 9.2e18)) {
      return fail(fmt::format("time '{}' does not fit a 64-bit unix timestamp", Excerpt(f[c.time], 40)));
    }
    row.time = static_cast<int64_t>(d);
  }
  if (c.event >= 0) {
    std::string e = Trim(f[c.event]);
    row.conversion = c.conversion_events.count(e) ? 1 : 0;
    row.click = (c.click_events.count(e) || row.conversion) ? 1 : 0;  // a conversion event implies the click before it
    row.event = row.conversion ? Event::kPurchase : row.click ? Event::kClick : Event::kImpression;
  }
  int64_t v;
  if (c.click >= 0) {
    if (!ParseInt64(f[c.click], &v) || (v != 0 && v != 1)) {
      return fail(fmt::format("click '{}' is not 0 or 1", Excerpt(f[c.click], 40)));
    }
    row.click = static_cast<uint8_t>(v);
    row.event = row.click ? Event::kClick : Event::kImpression;
  }
  if (c.conversion >= 0) {
    if (!ParseInt64(f[c.conversion], &v) || (v != 0 && v != 1)) {
      return fail(fmt::format("conversion '{}' is not 0 or 1", Excerpt(f[c.conversion], 40)));
    }
    row.conversion = static_cast<uint8_t>(v);
    if (row.conversion) row.event = Event::kPurchase;
  }
  if (row.conversion && !row.click) return fail("conversion without click");
  double value = 0;
  if (c.value >= 0 && !TrimView(f[c.value]).empty() && !ParseFloat(f[c.value], &value)) {
    return fail(fmt::format("value '{}' is not a number", Excerpt(f[c.value], 40)));
  }
  if (!FitsFloat(value)) return fail(fmt::format("value '{}' does not fit a 32-bit float", Excerpt(f[c.value], 40)));
  row.value = static_cast<float>(value);
  const size_t nums_before = batch->nums.size();
  for (size_t k = 0; k < c.numeric.size(); ++k) {
    double d;
    if (!ParseFloat(f[c.numeric[k]], &d) || !FitsFloat(d)) {
      batch->nums.resize(nums_before);
      return fail(fmt::format("numeric column '{}' has '{}' (expected a number that fits a 32-bit float)", g.numeric[k],
                              Excerpt(f[c.numeric[k]], 40)));
    }
    batch->nums.push_back(static_cast<float>(d));
  }
  const std::string_view us = TrimView(f[c.user]), is = TrimView(f[c.item]);
  if (us.empty() || is.empty()) {
    batch->nums.resize(nums_before);
    return fail("empty user or item id");
  }
  row.text_begin = static_cast<uint32_t>(batch->offsets.size() / 2);
  auto add = [&](std::string_view field) {
    batch->offsets.push_back(static_cast<uint32_t>(batch->text.size()));
    batch->text.append(field);
    batch->offsets.push_back(static_cast<uint32_t>(batch->text.size()));
  };
  add(us);
  add(is);
  if (c.category >= 0) add(f[c.category]);
  for (int k : c.categorical) add(TrimView(f[k]));
  batch->rows.push_back(std::move(row));
}

// Reads and parses the lines after the header on a thread of its own, in batches, while the
// caller interns ids and appends rows: the two halves of parsing run on two cores.
class GenericLineReader {
 public:
  GenericLineReader(LineReader& reader, const GenericMapping& g, const GenericColumns& c)
      : reader_(reader), g_(g), c_(c), thread_([this] { Run(); }) {}
  ~GenericLineReader() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  // The next batch, in file order; the last one has last = true.
  ParsedBatch Next() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !queue_.empty(); });
    ParsedBatch b = std::move(queue_.front());
    queue_.pop_front();
    cv_.notify_all();
    return b;
  }

 private:
  bool Push(ParsedBatch&& b) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return stop_ || queue_.size() < 4; });
    if (stop_) return false;
    queue_.push_back(std::move(b));
    cv_.notify_all();
    return true;
  }
  void Run() {
    ParsedBatch batch;
    batch.rows.reserve(8192);
    std::vector<std::string_view> f;
    CsvSplitter splitter;
    std::string line;
    int64_t line_number = 0;
    try {
      while (ReadCsvRecord(reader_, c_.delim, &line, &line_number)) {
        ParseGenericLine(g_, c_, line, line_number, splitter, f, &batch);
        if (batch.rows.size() >= 8192) {
          if (!Push(std::move(batch))) return;
          batch = ParsedBatch();
          batch.rows.reserve(8192);
        }
      }
    } catch (...) {
      batch.failure = std::current_exception();
    }
    batch.last = true;
    Push(std::move(batch));
  }

  LineReader& reader_;
  const GenericMapping& g_;
  const GenericColumns& c_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ParsedBatch> queue_;
  bool stop_ = false;
  std::thread thread_;  // last: starts once the rest is constructed
};

RawLog ParseGeneric(const DataOptions& o, const std::string& spill_dir) {
  const GenericMapping& g = o.generic;
  RP_REQUIRE(!g.path.empty(), StatusCode::kInvalidConfig, "data.dataset is 'generic' but data.generic.path is empty");
  if (g.layout == "sequences") return ParseGenericSequences(o, spill_dir);
  RP_REQUIRE(g.item_attributes.empty(), StatusCode::kInvalidConfig,
             "data.generic.item_attributes is set, but data.generic.layout is 'rows': item attributes come with the "
             "sequences layout; map a category column with data.generic.category instead");
  RP_REQUIRE(!g.user.empty() && !g.item.empty(), StatusCode::kInvalidConfig,
             "data.dataset is 'generic': data.generic.user and data.generic.item must name columns");
  RawLog log;
  BadRows bad(o, &log);
  const std::string path = GenericPath(o, g.path);
  log.source = "generic log " + path;
  log.time_semantics = g.time.empty() ? "order" : "unix_seconds";
  const bool has_labels = !g.click.empty() || !g.event.empty();
  log.implicit = !has_labels;
  GenericColumns c;
  c.click_events.insert(g.click_events.begin(), g.click_events.end());
  c.conversion_events.insert(g.conversion_events.begin(), g.conversion_events.end());
  std::map<std::string, int> col;  // column name -> index
  std::vector<int64_t> order;      // per user: rows so far (the time when there is no time column)
  int64_t non_click_rows = 0;      // logged exposures without a click
  LineReader reader(path);
  std::string line;
  auto resolve = [&](const std::string& name, const char* key) -> int {
    if (name.empty()) return -1;
    if (!g.header) {
      int64_t idx;
      RP_REQUIRE(ParseInt64(name, &idx) && idx >= 0, StatusCode::kInvalidConfig,
                 "data.generic.{} = '{}': with data.generic.header false, columns are 0-based indices", key, name);
      return static_cast<int>(idx);
    }
    auto it = col.find(name);
    if (it == col.end()) {
      std::string names;
      for (const auto& [n, i] : col) names += (names.empty() ? "" : ", ") + Excerpt(n, 60);
      RP_THROW(StatusCode::kDataError, "{}: data.generic.{} names column '{}', which the header does not have (columns: {})",
               path, key, name, names);
    }
    return it->second;
  };
  // Interns a parsed row's ids and appends it (in file order, on this thread).
  auto commit = [&](const ParsedBatch& b, const ParsedRow& row, const float*& nums) {
    if (!row.error.empty()) return bad.Report(reader.path(), row.line_number, row.line, row.error);
    if (log.spill && static_cast<int64_t>(log.size()) >= log.spill->budget_rows()) log.spill->Take(log);
    uint32_t k = row.text_begin;
    auto field = [&] {
      std::string_view v(b.text.data() + b.offsets[2 * k], b.offsets[2 * k + 1] - b.offsets[2 * k]);
      ++k;
      return v;
    };
    const int64_t u = log.users.Intern(field()), i = log.items.Intern(field());
    int64_t t = row.time;
    if (c.time < 0) {
      if (order.size() <= static_cast<size_t>(u)) order.resize(u + 1, 0);
      t = order[u]++;
    }
    if (c.category >= 0) {
      const std::string_view cat_text = field();
      if (!log.item_categories.count(i)) {
        std::vector<std::string_view> cats;
        SplitFields(cat_text, '|', &cats);
        std::vector<int64_t> ids;
        for (auto cat : cats) if (!TrimView(cat).empty()) ids.push_back(log.CategoryId(TrimView(cat)));
        log.item_categories[i] = ids;
      }
    }
    for (size_t j = 0; j < c.categorical.size(); ++j) log.cat_features.push_back(log.cat_feature_vocab[j].Intern(field()) + 1);
    log.num_features.insert(log.num_features.end(), nums, nums + c.numeric.size());
    nums += c.numeric.size();
    non_click_rows += row.click == 0;
    log.Add(u, i, t, row.event, row.click, row.conversion, row.value, -1);
  };
  std::vector<std::string_view> f;
  while (reader.Next(&line)) {
    if (line.empty()) continue;
    // The first line: the header (or, with header: false, the first row).
    c.delim = Delimiter(g.delimiter, line);
    const int64_t first_line = reader.line_number();
    while (QuoteOpenAtEnd(line, c.delim)) {  // a quoted field with a newline in the first record
      std::string more;
      RP_REQUIRE(reader.Next(&more), StatusCode::kDataError, "{}:{}: a quoted field opened on this line is never closed",
                 path, first_line);
      line += '\n' + more;
    }
    CsvSplitter splitter;
    const auto shape = splitter.Split(line, c.delim, &f);
    RP_REQUIRE(shape == CsvSplitter::Result::kOk, StatusCode::kDataError, "{}:{}: {}: '{}'", path, first_line,
               CsvSplitter::Explain(shape), Excerpt(line));
    c.width = f.size();
    for (size_t k = 0; k < f.size(); ++k) col[Trim(f[k])] = static_cast<int>(k);
    c.user = resolve(g.user, "user");
    c.item = resolve(g.item, "item");
    c.time = resolve(g.time, "time");
    c.event = resolve(g.event, "event");
    c.click = resolve(g.click, "click");
    c.conversion = resolve(g.conversion, "conversion");
    c.value = resolve(g.value, "value");
    c.category = resolve(g.category, "category");
    std::vector<std::string> cn, nn;
    for (const auto& n : g.categorical) { c.categorical.push_back(resolve(n, "categorical")); cn.push_back(n); }
    for (const auto& n : g.numeric) { c.numeric.push_back(resolve(n, "numeric")); nn.push_back(n); }
    SetRowFeatures(log, cn, nn);
    if (!spill_dir.empty()) {
      // Rows beyond half the budget go to disk; the other half is for sorting a partition.
      const int64_t row_bytes = static_cast<int64_t>(RecordBytes(static_cast<int>(cn.size()), static_cast<int>(nn.size())));
      log.spill = std::make_shared<RowSpill>(spill_dir, o.memory_budget_mb * (int64_t{1} << 20) / 2 / row_bytes,
                                             static_cast<int>(cn.size()), static_cast<int>(nn.size()));
      log.spill->ReserveColumns(log);
    }
    if (!g.header) {
      ParsedBatch b;
      ParseGenericLine(g, c, line, first_line, splitter, f, &b);
      const float* nums = b.nums.data();
      commit(b, b.rows.front(), nums);
    }
    break;
  }
  {
    GenericLineReader lines(reader, g, c);
    for (;;) {
      ParsedBatch b = lines.Next();
      const float* nums = b.nums.data();
      for (const ParsedRow& row : b.rows) commit(b, row, nums);
      if (b.failure) std::rethrow_exception(b.failure);
      if (b.last) break;
    }
  }
  log.sources.push_back(SourceFile{path, reader.Md5Hex(), reader.line_number()});
  if (has_labels) {
    // Exposures: the logged non-click rows, or sampled ones when the log has none (views, carts
    // and purchases only), or as the user chose.
    log.implicit = g.exposures == "sampled" || (g.exposures == "auto" && non_click_rows == 0);
  } else if (g.exposures == "logged") {
    log.implicit = false;
  }
  if (!has_labels) {
    log.notes.push_back(log.implicit ? "generic: no click or event column, so every row is a positive (implicit "
                                       "feedback): click = 1, conversion = 0, negatives are sampled"
                                     : "generic: no click or event column and data.generic.exposures: logged, so every "
                                       "row is a click and none is sampled: the click rate is 1");
  } else {
    std::string how;
    if (c.event >= 0) {
      how = fmt::format("click = event '{}' in [{}] or a conversion; conversion = event in [{}]", g.event,
                        fmt::join(g.click_events, ", "), fmt::join(g.conversion_events, ", "));
    }
    if (c.click >= 0) how += fmt::format("{}click = column '{}' (0/1)", how.empty() ? "" : "; ", g.click);
    if (c.conversion >= 0) how += fmt::format("; conversion = column '{}' (0/1)", g.conversion);
    if (!log.implicit) {
      log.notes.push_back(fmt::format("generic: logged exposures ({} rows without a click), no negatives sampled; "
                                      "labels: {}",
                                      non_click_rows, how));
    } else if (g.exposures == "sampled") {
      log.notes.push_back(fmt::format("generic: non-click exposures sampled (data.generic.exposures: sampled; {} "
                                      "logged rows without a click kept as well); labels: {}",
                                      non_click_rows, how));
    } else {
      log.notes.push_back("generic: no row is a non-click exposure (every row is a click or a conversion), so non-click "
                          "exposures are sampled as for implicit feedback (data.generic.exposures: auto; 'logged' "
                          "keeps the log as it is); labels: " + how);
    }
  }
  if (c.value >= 0) log.notes.push_back(fmt::format("generic: value = column '{}'", g.value));
  return log;
}

}  // namespace

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
