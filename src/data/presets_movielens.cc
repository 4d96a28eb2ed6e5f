#include "data/presets_parsers.h"

#include <algorithm>
#include <map>

#include "data/presets_util.h"

namespace recprism::data::preset {
namespace {

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

}  // namespace

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


}  // namespace recprism::data::preset
