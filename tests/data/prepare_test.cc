// Preparation: presets on the real mirror, splits, negatives, bad input, atomic output.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "core/status.h"
#include "core/md5.h"
#include "data/interner.h"
#include "data/prepared_file.h"
#include "data/sources.h"
#include "data/text_input.h"
#include "data_test_util.h"

namespace recprism::data {
namespace {

using recprism::testing::MirrorOptions;
using recprism::testing::TestTempDir;
using recprism::testing::WriteText;
namespace fs = std::filesystem;

// Every note of a prepared file, one per line.
std::string NotesOf(const PreparedReader& rd) {
  std::string notes;
  for (const auto& n : rd.metadata().notes) notes += n + "\n";
  return notes;
}

std::string ErrorOf(const DataOptions& o, const std::string& out, StatusCode expect) {
  try {
    Prepare(o, out, 1);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), expect) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "prepare succeeded";
  return "";
}

TEST(Interner, NumericAndStringKeysAreDistinctAndStable) {
  Interner in;
  const std::vector<std::string> keys = {"123", "0123", "0", "00", "u7", "999999999999999999", "9999999999999999999",
                                         "-5", "", "123 ", "abc"};
  for (size_t k = 0; k < keys.size(); ++k) EXPECT_EQ(in.Intern(keys[k]), static_cast<int64_t>(k)) << keys[k];
  for (int round = 0; round < 2; ++round) {
    for (size_t k = 0; k < keys.size(); ++k) {
      EXPECT_EQ(in.Intern(keys[k]), static_cast<int64_t>(k)) << keys[k];
      EXPECT_EQ(in.Find(keys[k]), static_cast<int64_t>(k)) << keys[k];
      EXPECT_EQ(in.key(static_cast<int64_t>(k)), keys[k]);
    }
  }
  EXPECT_EQ(in.Find("124"), -1);
  EXPECT_EQ(in.Find("x"), -1);
  // Growth rehashes numeric and string keys alike.
  for (int i = 0; i < 5000; ++i) {
    in.Intern(std::to_string(i * 7919));
    in.Intern("s" + std::to_string(i));
  }
  EXPECT_EQ(in.Find("123"), 0);
  EXPECT_EQ(in.Find("0123"), 1);
  EXPECT_EQ(in.key(in.Find("s4999")), "s4999");
  EXPECT_EQ(in.key(in.Find(std::to_string(4999 * 7919))), std::to_string(4999 * 7919));
}

TEST(LineReader, PlainAndGzipGiveTheSameLinesAndChecksum) {
  auto dir = TestTempDir("lines");
  const std::string text = "a\tb\r\nsecond line\nlast-without-newline";
  WriteText(dir / "x.txt", text);
  gzFile gz = gzopen((dir / "x.txt.gz").c_str(), "wb");
  gzwrite(gz, text.data(), static_cast<unsigned>(text.size()));
  gzclose(gz);
  std::vector<std::string> a, b;
  std::string line;
  LineReader ra((dir / "x.txt").string()), rb((dir / "x.txt.gz").string());
  while (ra.Next(&line)) a.push_back(line);
  while (rb.Next(&line)) b.push_back(line);
  EXPECT_EQ(a, (std::vector<std::string>{"a\tb", "second line", "last-without-newline"}));
  EXPECT_EQ(a, b);
  EXPECT_EQ(ra.Md5Hex(), rb.Md5Hex());
  EXPECT_EQ(ra.line_number(), 3);
}

TEST(LineReader, TruncatedGzipIsADataErrorNamingTheFile) {
  auto dir = TestTempDir("trunc");
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "1\t" + std::to_string(i * 7919 % 100003) + "\t5\t881250949\n";
  const auto gz_path = dir / "u.data.gz";
  gzFile gz = gzopen(gz_path.c_str(), "wb");
  gzwrite(gz, text.data(), static_cast<unsigned>(text.size()));
  gzclose(gz);
  fs::resize_file(gz_path, fs::file_size(gz_path) / 2);
  LineReader r(gz_path.string());
  std::string line;
  try {
    while (r.Next(&line)) {}
    FAIL() << "truncation not detected";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::kDataError);
    EXPECT_NE(std::string(e.what()).find(gz_path.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
}

TEST(Prepare, Ml100kMatchesThePublishedCountsAndLeaveOneOut) {
  RP_REQUIRE_MIRROR();
  auto dir = TestTempDir("ml100k");
  DataOptions o = MirrorOptions("ml-100k");
  PrepareReport rep = Prepare(o, (dir / "ml.h5").string(), 7);
  EXPECT_EQ(rep.positives, 100000);
  EXPECT_EQ(rep.users, 943);
  EXPECT_EQ(rep.items, 1682);
  EXPECT_EQ(rep.sampled_negatives, 400000);
  PreparedReader rd((dir / "ml.h5").string());
  EXPECT_EQ(rd.metadata().time_semantics, "unix_seconds");
  ASSERT_FALSE(rd.metadata().sources.empty());
  bool found = false;
  for (const auto& s : rd.metadata().sources) found |= s.md5 == "6e47046882bad158b0efbb84cd5cb987";
  EXPECT_TRUE(found) << "u.data checksum recorded";
  EXPECT_NE(NotesOf(rd).find("conversion = rating >= 4"), std::string::npos) << "the notes state the label definitions";
  Rows rows = rd.ReadRows(0, rd.num_rows());
  const auto& off = rd.users().offsets;
  // Leave-one-out: per user the last positive is test, the second-to-last valid, all else train;
  // labels per the preset: click = rated, conversion = rating >= 4.
  for (int64_t u = 0; u < rd.users().num_users; ++u) {
    std::vector<int64_t> pos;
    for (int64_t r = off[u]; r < off[u + 1]; ++r) {
      ASSERT_EQ(rows.user[r], u);
      if (r > off[u]) {
        ASSERT_LE(rows.time[r - 1], rows.time[r]) << "rows sorted by time within a user";
      }
      if (rows.click[r]) {
        pos.push_back(r);
        EXPECT_EQ(rows.conversion[r], rows.value[r] >= 4 ? 1 : 0);
      }
    }
    ASSERT_GE(pos.size(), 20u);  // every ml-100k user has >= 20 ratings
    EXPECT_EQ(rows.split[pos.back()], 2);
    EXPECT_EQ(rows.split[pos[pos.size() - 2]], 1);
    for (size_t k = 0; k + 2 < pos.size(); ++k) EXPECT_EQ(rows.split[pos[k]], 0);
  }
}

TEST(Prepare, SampledNegativesAreNeverItemsTheUserInteractedWith) {
  RP_REQUIRE_MIRROR();
  for (const std::string sampler : {"uniform", "popularity"}) {
    auto dir = TestTempDir("neg_" + sampler);
    DataOptions o = MirrorOptions("amazon-beauty");
    o.negative_sampler = sampler;
    o.negatives_per_positive = 3;
    Prepare(o, (dir / "b.h5").string(), 11);
    PreparedReader rd((dir / "b.h5").string());
    Rows rows = rd.ReadRows(0, rd.num_rows());
    const auto& off = rd.users().offsets;
    int64_t negatives = 0, popular_hits = 0;
    // "Popular" = the top 10% of items by train popularity.
    std::vector<int64_t> pop = rd.items().popularity;
    std::vector<int64_t> sorted(pop.begin() + 1, pop.end());
    std::sort(sorted.rbegin(), sorted.rend());
    const int64_t threshold = sorted[sorted.size() / 10];
    for (int64_t u = 0; u < rd.users().num_users; ++u) {
      std::set<int64_t> seen;
      for (int64_t r = off[u]; r < off[u + 1]; ++r) if (rows.click[r]) seen.insert(rows.item[r]);
      for (int64_t r = off[u]; r < off[u + 1]; ++r) {
        if (rows.event[r] != static_cast<uint8_t>(Event::kSampledNegative)) continue;
        ++negatives;
        popular_hits += pop[rows.item[r]] > threshold;
        ASSERT_EQ(seen.count(rows.item[r]), 0u) << "user " << u << " row " << r;
        ASSERT_EQ(rows.click[r], 0);
        // Right after its positive, in the positive's split and at its time.
        ASSERT_GT(r, off[u]);
      }
    }
    EXPECT_EQ(negatives, 3 * 198502);
    const double share = static_cast<double>(popular_hits) / negatives;
    if (sampler == "uniform") {
      EXPECT_LT(share, 0.2) << "uniform negatives should not favour popular items";
    } else {
      EXPECT_GT(share, 0.3) << "popularity negatives should favour popular items";
    }
  }
}

// Sampled-negative rows of one prepared file, grouped with the positive they follow.
struct NegativeGroups {
  int64_t groups = 0, negatives = 0, duplicates = 0;
};
NegativeGroups CountGroups(const Rows& rows) {
  NegativeGroups g;
  const auto neg = static_cast<uint8_t>(Event::kSampledNegative);
  for (size_t r = 0; r < rows.size();) {
    if (rows.event[r] == neg) { ++r; continue; }
    size_t e = r + 1;
    std::set<int64_t> items;
    while (e < rows.size() && rows.event[e] == neg && rows.user[e] == rows.user[r]) {
      g.duplicates += !items.insert(rows.item[e]).second;
      ++g.negatives;
      ++e;
    }
    g.groups += e > r + 1;
    r = e;
  }
  return g;
}

TEST(Prepare, SampledNegativesAreDistinctWithinTheirPositivesGroup) {
  RP_REQUIRE_MIRROR();
  auto dir = TestTempDir("neg_distinct");
  DataOptions o = MirrorOptions("ml-100k");
  o.negatives_per_positive = 4;
  Prepare(o, (dir / "ml.h5").string(), 7);
  PreparedReader rd((dir / "ml.h5").string());
  NegativeGroups g = CountGroups(rd.ReadRows(0, rd.num_rows()));
  EXPECT_EQ(g.groups, 100000);
  EXPECT_EQ(g.negatives, 400000);
  EXPECT_EQ(g.duplicates, 0) << "sampling with replacement within a group";  // 411 before the fix (seed 7)
  EXPECT_NE(NotesOf(rd).find("distinct within a positive's group"), std::string::npos)
      << "the notes describe the negatives";
}

TEST(Prepare, EvalNegativesGiveTheSampledRankingProtocol) {
  RP_REQUIRE_MIRROR();
  auto dir = TestTempDir("neg_eval");
  DataOptions o = MirrorOptions("ml-100k");
  o.negatives_per_positive = 2;
  o.eval_negatives_per_positive = 99;
  o.negative_pool = "catalogue";
  Prepare(o, (dir / "ml.h5").string(), 7);
  PreparedReader rd((dir / "ml.h5").string());
  Rows rows = rd.ReadRows(0, rd.num_rows());
  const auto neg = static_cast<uint8_t>(Event::kSampledNegative);
  int64_t groups[3] = {0, 0, 0}, bad_size = 0, duplicates = 0, touched = 0;
  const auto& off = rd.users().offsets;
  for (int64_t u = 0; u < rd.users().num_users; ++u) {
    std::set<int64_t> seen;
    for (int64_t r = off[u]; r < off[u + 1]; ++r) if (rows.event[r] != neg) seen.insert(rows.item[r]);
    for (int64_t r = off[u]; r < off[u + 1];) {
      int64_t e = r + 1;
      std::set<int64_t> items;
      while (e < off[u + 1] && rows.event[e] == neg) {
        duplicates += !items.insert(rows.item[e]).second;
        touched += seen.count(rows.item[e]);
        ++e;
      }
      ++groups[rows.split[r]];
      bad_size += (e - r - 1) != (rows.split[r] == 0 ? 2 : 99);
      r = e;
    }
  }
  EXPECT_EQ(groups[1], 943);
  EXPECT_EQ(groups[2], 943) << "one held-out positive per user, each with its 99 candidates";
  EXPECT_EQ(bad_size, 0) << "2 negatives per train positive, 99 per valid or test positive";
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(touched, 0);
  EXPECT_NE(NotesOf(rd).find("2 per train positive and 99 per valid or test positive"), std::string::npos);
}

TEST(Prepare, JdNegativesAreNeverItemsTheUserFavourited) {
  RP_REQUIRE_MIRROR();
  auto dir = TestTempDir("neg_jd");
  DataOptions o = MirrorOptions("jd");
  o.negatives_per_positive = 4;
  Prepare(o, (dir / "jd.h5").string(), 3);
  PreparedReader rd((dir / "jd.h5").string());
  Rows rows = rd.ReadRows(0, rd.num_rows());
  // Favourite pairs straight from the source file, by raw ids.
  std::set<std::pair<std::string, std::string>> fav;
  LineReader in(o.data_dir + "/jd-multibehavior/trn_fav.tsv.gz");
  std::string line;
  while (in.Next(&line)) {
    const size_t tab = line.find('\t');
    if (tab != std::string::npos) fav.emplace(line.substr(0, tab), line.substr(tab + 1));
  }
  ASSERT_GT(fav.size(), 1000u);
  int64_t hits = 0, negatives = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    if (rows.event[r] != static_cast<uint8_t>(Event::kSampledNegative)) continue;
    ++negatives;
    hits += fav.count({rd.users().raw_id[rows.user[r]], rd.items().raw_id[rows.item[r]]});
  }
  EXPECT_GT(negatives, 900000);
  EXPECT_EQ(hits, 0) << "negatives that the user favourited";  // 2 before the fix (seed 3)
}

TEST(Prepare, Ml1mNegativesComeFromItemsWithATrainInteractionByDefault) {
  RP_REQUIRE_MIRROR();
  auto dir = TestTempDir("neg_ml1m");
  for (const std::string pool : {"train", "catalogue"}) {
    DataOptions o = MirrorOptions("ml-1m");
    o.negatives_per_positive = 1;
    o.negative_pool = pool;
    const std::string path = (dir / (pool + ".h5")).string();
    PrepareReport rep = Prepare(o, path, 3);
    EXPECT_EQ(rep.items, 3883) << "movies.dat lists every movie, rated or not";
    PreparedReader rd(path);
    Rows rows = rd.ReadRows(0, rd.num_rows());
    std::vector<char> in_train(rep.items + 1, 0);
    for (size_t r = 0; r < rows.size(); ++r) {
      if (rows.event[r] != static_cast<uint8_t>(Event::kSampledNegative) && rows.split[r] == 0) in_train[rows.item[r]] = 1;
    }
    const int64_t without = std::count(in_train.begin() + 1, in_train.end(), 0);
    EXPECT_GE(without, 177) << "at least the 177 movies nobody rated";
    int64_t easy = 0;
    for (size_t r = 0; r < rows.size(); ++r) {
      easy += rows.event[r] == static_cast<uint8_t>(Event::kSampledNegative) && !in_train[rows.item[r]];
    }
    if (pool == "train") {
      EXPECT_EQ(easy, 0) << "negatives on items without a train interaction";  // 53,615 before the fix
    } else {
      EXPECT_GT(easy, 1000) << "the catalogue pool draws them";
    }
  }
}

// Two prepared files with the same rows, users and items (their notes may differ).
void ExpectSamePreparedFile(const std::string& a, const std::string& b) {
  PreparedReader ra(a), rb(b);
  Rows x = ra.ReadRows(0, ra.num_rows()), y = rb.ReadRows(0, rb.num_rows());
  EXPECT_EQ(x.user, y.user);
  EXPECT_EQ(x.item, y.item);
  EXPECT_EQ(x.time, y.time);
  EXPECT_EQ(x.event, y.event);
  EXPECT_EQ(x.click, y.click);
  EXPECT_EQ(x.conversion, y.conversion);
  EXPECT_EQ(x.value, y.value);
  EXPECT_EQ(x.split, y.split);
  EXPECT_EQ(x.cat_features, y.cat_features);
  EXPECT_EQ(x.num_features, y.num_features);
  EXPECT_EQ(ra.users().offsets, rb.users().offsets);
  EXPECT_EQ(ra.users().split_rows, rb.users().split_rows);
  EXPECT_EQ(ra.users().raw_id, rb.users().raw_id);
  EXPECT_EQ(ra.users().features, rb.users().features);
  EXPECT_EQ(ra.items().raw_id, rb.items().raw_id);
  EXPECT_EQ(ra.items().popularity, rb.items().popularity);
  EXPECT_EQ(ra.items().category_values, rb.items().category_values);
}

TEST(Prepare, EveryPresetPreparedOutOfCoreGivesTheSameFile) {
  RP_REQUIRE_MIRROR();
  auto dir = TestTempDir("ooc_presets");
  struct Case {
    std::string dataset, layout, split;
  };
  for (const Case& c : {Case{"ml-100k", "auto", "auto"}, Case{"ml-100k", "auto", "temporal"}, Case{"jd", "auto", "auto"},
                        Case{"amazon-beauty", "auto", "auto"}, Case{"ali-ccp", "csv", "auto"}}) {
    SCOPED_TRACE(c.dataset + " " + c.layout + " " + c.split);
    DataOptions o = MirrorOptions(c.dataset);
    o.layout = c.layout;
    o.split = c.split;
    o.negatives_per_positive = 2;
    const std::string a = (dir / "mem.h5").string(), b = (dir / "ooc.h5").string();
    Prepare(o, a, 4);
    o.memory_budget_mb = 1;
    Prepare(o, b, 4);
    ExpectSamePreparedFile(a, b);
    const bool spilled = NotesOf(PreparedReader(b)).find("prepared out of core") != std::string::npos;
    EXPECT_EQ(spilled, c.dataset != "ali-ccp") << "the 12-row ali-ccp fixture fits any budget";
  }
}

TEST(Prepare, SamePresetAndSeedGiveIdenticalFiles) {
  RP_REQUIRE_MIRROR();
  auto dir = TestTempDir("repro");
  DataOptions o = MirrorOptions("ml-100k");
  Prepare(o, (dir / "a.h5").string(), 5);
  Prepare(o, (dir / "b.h5").string(), 5);
  Prepare(o, (dir / "c.h5").string(), 6);
  PreparedReader a((dir / "a.h5").string()), b((dir / "b.h5").string()), c((dir / "c.h5").string());
  Rows ra = a.ReadRows(0, a.num_rows()), rb = b.ReadRows(0, b.num_rows()), rc = c.ReadRows(0, c.num_rows());
  EXPECT_EQ(ra.item, rb.item);
  EXPECT_NE(ra.item, rc.item) << "another seed samples other negatives";
}

TEST(Prepare, EveryPresetPreparesFromTheMirror) {
  RP_REQUIRE_MIRROR();
  auto dir = TestTempDir("presets");
  struct Case {
    std::string dataset, layout;
    int64_t positives;
  };
  for (const Case& c : {Case{"ml-1m", "auto", 1000209}, Case{"jd", "auto", 240636}, Case{"ali-ccp", "csv", 12},
                        Case{"ali-ccp", "feasign", 3}, Case{"aliexpress", "auto", 70}}) {
    DataOptions o = MirrorOptions(c.dataset);
    o.layout = c.layout;
    o.negatives_per_positive = 1;
    PrepareReport r = Prepare(o, (dir / (c.dataset + c.layout + ".h5")).string(), 3);
    EXPECT_EQ(r.positives, c.positives) << c.dataset << " " << c.layout;
    PreparedReader rd((dir / (c.dataset + c.layout + ".h5")).string());
    EXPECT_EQ(rd.num_rows(), r.rows);
    const std::string notes = NotesOf(rd);
    EXPECT_TRUE(notes.find("click =") != std::string::npos || notes.find("labels:") != std::string::npos)
        << c.dataset << ": the notes state the label definitions";
  }
}

TEST(Prepare, JdLabelsFollowTheEntireSpaceDefinition) {
  RP_REQUIRE_MIRROR();
  auto dir = TestTempDir("jd");
  DataOptions o = MirrorOptions("jd");
  o.negatives_per_positive = 0;
  PrepareReport r = Prepare(o, (dir / "jd.h5").string(), 3);
  PreparedReader rd((dir / "jd.h5").string());
  Rows rows = rd.ReadRows(0, rd.num_rows());
  int64_t buys[3] = {0, 0, 0};
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows.click[i], 1);  // pv ∪ buy
    buys[rows.split[i]] += rows.conversion[i];
  }
  // Source splits: valid and test are the held-out purchase files; train buys are unique pairs.
  EXPECT_EQ(buys[1], 5892);
  EXPECT_EQ(buys[2], 5013);
  EXPECT_EQ(r.split_rows[1], 5892);
  EXPECT_EQ(r.split_rows[2], 5013);
  EXPECT_LE(buys[0], 60967);
}

// JD's files list each user's items by item id; data.history_order: shuffled is the control that
// gives each user's train rows a seeded random order and changes nothing else.
TEST(Prepare, JdShuffledHistoryOrderIsASeededPerUserPermutation) {
  RP_REQUIRE_MIRROR();
  auto dir = TestTempDir("jd_order");
  DataOptions o = MirrorOptions("jd");
  o.negatives_per_positive = 0;
  const std::string source = (dir / "source.h5").string(), a = (dir / "a.h5").string(),
                    b = (dir / "b.h5").string(), c = (dir / "c.h5").string();
  Prepare(o, source, 3);
  o.history_order = "shuffled";
  Prepare(o, a, 3);
  Prepare(o, b, 3);
  Prepare(o, c, 4);
  struct Seqs {
    std::map<std::string, std::vector<std::pair<int64_t, std::string>>> train;  // user -> (time, item)
    std::set<std::tuple<std::string, std::string, int, int, int>> rows;           // user, item, split, labels
    int64_t heldout_before_train = 0;
  };
  auto read = [](const std::string& path) {
    PreparedReader rd(path);
    Rows r = rd.ReadRows(0, rd.num_rows());
    Seqs s;
    std::map<std::string, int64_t> last_train, first_heldout;
    for (size_t i = 0; i < r.size(); ++i) {
      const std::string& u = rd.users().raw_id[r.user[i]];
      const std::string& it = rd.items().raw_id[r.item[i]];
      s.rows.emplace(u, it, r.split[i], r.click[i], r.conversion[i]);
      if (r.split[i] == static_cast<uint8_t>(Split::kTrain)) {
        s.train[u].emplace_back(r.time[i], it);
        last_train[u] = std::max(last_train.count(u) ? last_train[u] : INT64_MIN, r.time[i]);
      } else {
        first_heldout[u] = std::min(first_heldout.count(u) ? first_heldout[u] : INT64_MAX, r.time[i]);
      }
    }
    for (auto& [u, seq] : s.train) std::sort(seq.begin(), seq.end());
    for (const auto& [u, t] : first_heldout) s.heldout_before_train += last_train.count(u) && last_train[u] >= t;
    return s;
  };
  // The share of users (3+ train rows) whose train history runs in ascending item id.
  auto ascending = [](const Seqs& s) {
    int64_t n = 0, sorted = 0;
    for (const auto& [u, seq] : s.train) {
      if (seq.size() < 3) continue;
      ++n;
      bool up = true;
      for (size_t k = 1; k < seq.size() && up; ++k) up = std::stoll(seq[k - 1].second) < std::stoll(seq[k].second);
      sorted += up;
    }
    return static_cast<double>(sorted) / static_cast<double>(n);
  };
  const Seqs s0 = read(source), sa = read(a), sb = read(b), sc = read(c);
  EXPECT_GT(ascending(s0), 0.5) << "the source order is by item id (the artefact the control removes)";
  EXPECT_LT(ascending(sa), 0.05);
  EXPECT_EQ(sa.rows, s0.rows) << "the same rows and labels, only the order differs";
  EXPECT_EQ(sa.heldout_before_train, 0) << "held-out purchases stay after every train row of their user";
  EXPECT_EQ(s0.heldout_before_train, 0);
  EXPECT_EQ(sa.train, sb.train) << "the shuffle is a function of the seed";
  EXPECT_NE(sa.train, sc.train);
  PreparedReader rd(a);
  EXPECT_NE(NotesOf(rd).find("data.history_order: shuffled, seed 3"), std::string::npos) << NotesOf(rd);
  EXPECT_NE(rd.metadata().params.find("history_order=shuffled"), std::string::npos) << rd.metadata().params;
  // A config that asks for the source order does not silently read the shuffled file, nor the reverse.
  DataOptions want = o;
  want.history_order = "source";
  for (const auto& [opts, path] : {std::make_pair(want, a), std::make_pair(o, source)}) {
    try {
      CheckPreparedMatches(opts, path);
      ADD_FAILURE() << path << " matched a config with history_order " << opts.history_order;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("history_order"), std::string::npos) << e.what();
    }
  }
  // Only jd takes it: the other presets keep their timestamps or recorded sequences.
  DataOptions ml = MirrorOptions("ml-100k");
  ml.history_order = "shuffled";
  const std::string m = ErrorOf(ml, (dir / "ml.h5").string(), StatusCode::kInvalidConfig);
  EXPECT_NE(m.find("data.history_order is 'shuffled' but dataset 'ml-100k'"), std::string::npos) << m;
}

// ml-1m from the mirror has no timestamps and lists each user's ratings by movie id, so
// leave-one-out holds out the user's highest movie id; shuffled, it holds out a random one.
TEST(Prepare, Ml1mShuffledHistoryOrderHoldsOutRandomItems) {
  RP_REQUIRE_MIRROR();
  auto dir = TestTempDir("ml1m_order");
  DataOptions o = MirrorOptions("ml-1m");
  o.negatives_per_positive = 0;
  const std::string source = (dir / "source.h5").string(), shuffled = (dir / "shuffled.h5").string();
  Prepare(o, source, 5);
  o.history_order = "shuffled";
  Prepare(o, shuffled, 5);
  struct Out {
    std::map<std::string, std::vector<int64_t>> times;                     // user -> sorted times
    std::set<std::tuple<std::string, std::string, int, float>> rows;        // user, item, split, rating
    int64_t users = 0, test_is_max_id = 0;
  };
  auto read = [](const std::string& path) {
    PreparedReader rd(path);
    Rows r = rd.ReadRows(0, rd.num_rows());
    Out out;
    std::map<std::string, int64_t> max_id, test_id;
    for (size_t i = 0; i < r.size(); ++i) {
      const std::string& u = rd.users().raw_id[r.user[i]];
      const int64_t item = std::stoll(rd.items().raw_id[r.item[i]]);
      out.rows.emplace(u, rd.items().raw_id[r.item[i]], r.split[i], r.value[i]);
      out.times[u].push_back(r.time[i]);
      max_id[u] = std::max(max_id.count(u) ? max_id[u] : 0, item);
      if (r.split[i] == static_cast<uint8_t>(Split::kTest)) test_id[u] = item;
    }
    for (auto& [u, t] : out.times) std::sort(t.begin(), t.end());
    for (const auto& [u, item] : test_id) {
      ++out.users;
      out.test_is_max_id += item == max_id[u];
    }
    return out;
  };
  const Out a = read(source), b = read(shuffled);
  ASSERT_EQ(a.users, 6040);
  EXPECT_EQ(a.test_is_max_id, a.users) << "in file order the held-out item is the user's highest movie id";
  EXPECT_LT(b.test_is_max_id, b.users / 20) << "shuffled, it is a random one (1 in 165 on average)";
  EXPECT_EQ(b.rows.size(), a.rows.size());
  int64_t moved = 0;
  for (const auto& row : b.rows) moved += !a.rows.count(row);  // the split of a rating may change, nothing else
  EXPECT_GT(moved, 2 * 6040 * 9 / 10) << "valid and test items are drawn anew";
  EXPECT_EQ(b.times, a.times) << "each user's positions are a permutation of the same line numbers";
  PreparedReader rd(shuffled);
  EXPECT_NE(NotesOf(rd).find("leave-one-out holds out random items"), std::string::npos) << NotesOf(rd);
  // With the official ratings.dat beside it, ml-1m has timestamps, and shuffling them is refused.
  DataOptions official = o;
  official.data_dir = (dir / "mirror").string();
  for (const char* f : {"movies.dat.gz", "users.dat.gz"}) {
    std::filesystem::create_directories(dir / "mirror" / "ml-1m");
    std::filesystem::copy_file(std::filesystem::path(o.data_dir) / "ml-1m" / f, dir / "mirror" / "ml-1m" / f);
  }
  WriteText(dir / "mirror" / "ml-1m" / "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n");
  const std::string m = ErrorOf(official, (dir / "official.h5").string(), StatusCode::kInvalidConfig);
  EXPECT_NE(m.find("ratings.dat"), std::string::npos) << m;
  EXPECT_NE(m.find("has timestamps"), std::string::npos) << m;
}

TEST(Prepare, SyntheticHasPlantedLearnableStructure) {
  auto dir = TestTempDir("synthetic");
  DataOptions o;
  o.dataset = "synthetic";
  o.synthetic.rows = 300000;
  o.synthetic.clusters = 8;
  o.synthetic.categories = 40;
  PrepareReport r = Prepare(o, (dir / "s.h5").string(), 9);
  EXPECT_EQ(r.rows, 300000);
  PreparedReader rd((dir / "s.h5").string());
  Rows rows = rd.ReadRows(0, rd.num_rows());
  const auto& users = rd.users();
  ASSERT_EQ(users.feature_names, std::vector<std::string>{"cluster"});
  // Per (cluster, category) click-through rates: each cluster has a few categories it clicks
  // far more often, which a model can learn from the user's history.
  std::map<std::pair<int64_t, int64_t>, std::pair<int64_t, int64_t>> ctr;
  for (size_t i = 0; i < rows.size(); ++i) {
    auto& c = ctr[{users.features[rows.user[i]], rd.items().FirstCategory(rows.item[i])}];
    ++c.first;
    c.second += rows.click[i];
  }
  for (int64_t k = 1; k <= 8; ++k) {
    double best = 0, worst = 1;
    for (int64_t cat = 1; cat <= 40; ++cat) {
      auto it = ctr.find({k, cat});
      if (it == ctr.end() || it->second.first < 200) continue;
      double rate = static_cast<double>(it->second.second) / it->second.first;
      best = std::max(best, rate);
      worst = std::min(worst, rate);
    }
    EXPECT_GT(best, 0.2) << "cluster " << k;
    EXPECT_LT(worst, 0.08) << "cluster " << k;
  }
  // Temporal split by global time: splits hold roughly 70/15/15 of the rows.
  EXPECT_NEAR(static_cast<double>(r.split_rows[0]) / r.rows, 0.7, 0.05);
}

// ---------------------------------------------------------------- bad input
class GenericInput : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = TestTempDir("generic"); }
  DataOptions Options(const std::string& file) {
    DataOptions o;
    o.dataset = "generic";
    o.generic.path = (dir_ / file).string();
    o.generic.user = "uid";
    o.generic.item = "iid";
    o.generic.time = "ts";
    o.negatives_per_positive = 1;
    return o;
  }
  std::string Out() { return (dir_ / "out.h5").string(); }
  fs::path dir_;
};

DataOptions SequenceOptions(const fs::path& file, const std::string& attributes = "") {
  DataOptions o;
  o.dataset = "generic";
  o.generic.layout = "sequences";
  o.generic.path = file.string();
  o.generic.item_attributes = attributes;
  o.negatives_per_positive = 1;
  return o;
}

TEST_F(GenericInput, SequencesLayoutPreparesLeaveOneOutWithAttributes) {
  WriteText(dir_ / "seq.txt", "u1 a b c d\nu2  b c e \nu3\tf g h\n");
  WriteText(dir_ / "attr.json", "{\"a\": [1, 2], \"b\": [\"x\"], \"zz\": [4]}\n");
  PrepareReport r = Prepare(SequenceOptions(dir_ / "seq.txt", (dir_ / "attr.json").string()), Out(), 3);
  EXPECT_EQ(r.users, 3);
  EXPECT_EQ(r.items, 8) << "the items of the sequences; 'zz' only in the attributes is not one";
  EXPECT_EQ(r.positives, 10);
  EXPECT_EQ(r.split_protocol, "leave_one_out");
  PreparedReader rd(Out());
  Rows rows = rd.ReadRows(0, rd.num_rows());
  std::vector<std::string> items;
  std::vector<int> splits;
  for (size_t k = 0; k < rows.size(); ++k) {
    if (rows.user[k] != 0 || !rows.click[k]) continue;
    items.push_back(rd.items().raw_id[rows.item[k]]);
    splits.push_back(rows.split[k]);
    EXPECT_EQ(rows.time[k], static_cast<int64_t>(items.size()) - 1) << "time is the position";
  }
  EXPECT_EQ(items, (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(splits, (std::vector<int>{0, 0, 1, 2}));
  const auto& it = rd.items();
  const int64_t a = std::find(it.raw_id.begin(), it.raw_id.end(), "a") - it.raw_id.begin();
  EXPECT_EQ(it.category_offsets[a + 1] - it.category_offsets[a], 2) << "a has attributes 1 and 2";
  EXPECT_EQ(it.num_categories, 4) << "0 + 1, 2, x: the attributes of 'zz' are not categories";
  const std::string notes = NotesOf(rd);
  EXPECT_NE(notes.find("1 entries for items without interactions ignored"), std::string::npos) << notes;
}

TEST_F(GenericInput, SequencesLayoutRejectsMalformedLinesAndRowsOnlyKeys) {
  WriteText(dir_ / "dup.txt", "u1 a b\nu2 c d\nu1 e f\n");
  std::string m = ErrorOf(SequenceOptions(dir_ / "dup.txt"), Out(), StatusCode::kDataError);
  EXPECT_NE(m.find("dup.txt:3: user 'u1' already has a sequence on line 1"), std::string::npos) << m;
  WriteText(dir_ / "short.txt", "u1 a b\nu2\n");
  m = ErrorOf(SequenceOptions(dir_ / "short.txt"), Out(), StatusCode::kDataError);
  EXPECT_NE(m.find("short.txt:2: expected 'user item1 item2 ...'"), std::string::npos) << m;
  WriteText(dir_ / "ok.txt", "u1 a b\n");
  WriteText(dir_ / "bad.json", "{\"a\": [1, }");
  m = ErrorOf(SequenceOptions(dir_ / "ok.txt", (dir_ / "bad.json").string()), Out(), StatusCode::kDataError);
  EXPECT_NE(m.find("bad.json: malformed JSON at byte 10: expected an attribute id"), std::string::npos) << m;
  DataOptions o = SequenceOptions(dir_ / "ok.txt");
  o.generic.time = "ts";
  m = ErrorOf(o, Out(), StatusCode::kInvalidConfig);
  EXPECT_NE(m.find("data.generic.time maps a column, but data.generic.layout is 'sequences'"), std::string::npos) << m;
  o = Options("log.csv");
  o.generic.item_attributes = "attr.json";
  m = ErrorOf(o, Out(), StatusCode::kInvalidConfig);
  EXPECT_NE(m.find("data.generic.item_attributes is set, but data.generic.layout is 'rows'"), std::string::npos) << m;
}

TEST(Prepare, AmazonBeautyIsTheSequencesLayoutOfItsFiles) {
  RP_REQUIRE_MIRROR();
  auto dir = TestTempDir("beauty_seq");
  DataOptions preset = MirrorOptions("amazon-beauty");
  PrepareReport rp = Prepare(preset, (dir / "preset.h5").string(), 5);
  EXPECT_EQ(rp.users, 22363);  // S3-Rec's Beauty statistics
  EXPECT_EQ(rp.items, 12101);
  EXPECT_EQ(rp.positives, 198502);
  DataOptions generic = SequenceOptions(fs::path(preset.data_dir) / "amazon-beauty/Beauty.txt",
                                        preset.data_dir + "/amazon-beauty/Beauty_item2attributes.json");
  generic.negatives_per_positive = preset.negatives_per_positive;
  PrepareReport rg = Prepare(generic, (dir / "generic.h5").string(), 5);
  EXPECT_EQ(rg.users, rp.users);
  EXPECT_EQ(rg.items, rp.items);
  for (int k = 0; k < 3; ++k) EXPECT_EQ(rg.split_rows[k], rp.split_rows[k]) << "split " << k;
  PreparedReader a((dir / "preset.h5").string()), b((dir / "generic.h5").string());
  Rows ra = a.ReadRows(0, a.num_rows()), rb = b.ReadRows(0, b.num_rows());
  EXPECT_EQ(ra.user, rb.user);
  EXPECT_EQ(ra.item, rb.item) << "same ids and the same negatives";
  EXPECT_EQ(ra.split, rb.split);
  EXPECT_EQ(a.items().category_values, b.items().category_values);
  EXPECT_EQ(a.items().num_categories, b.items().num_categories);
  EXPECT_EQ(a.items().raw_id, b.items().raw_id);
}

TEST_F(GenericInput, OutOfCorePrepareGivesTheSameFileAsInMemory) {
  // 40,000 rows over 900 users, with same-second ties, features and categories.
  std::mt19937_64 rng(17);
  std::string text = "user,item,ts,clk,buy,price,dev,age,cat\n";
  for (int r = 0; r < 40000; ++r) {
    const int u = static_cast<int>(rng() % 900), i = static_cast<int>(rng() % 700);
    const int clk = static_cast<int>(rng() % 3 == 0), buy = clk && rng() % 4 == 0;
    text += fmt::format("u{},i{},{},{},{},{}.5,{},{},c{}|c{}\n", u, i, 1'600'000'000 + (r / 3) * 7 + static_cast<int>(rng() % 5),
                        clk, buy, i % 40, (u % 2) ? "ios" : "web", u % 60, i % 9, i % 4);
  }
  WriteText(dir_ / "big.csv", text);
  for (const bool implicit : {true, false}) {
    SCOPED_TRACE(implicit ? "implicit, temporal" : "explicit labels, leave-one-out");
    DataOptions o = Options("big.csv");
    o.generic.user = "user";
    o.generic.item = "item";
    o.generic.categorical = {"dev"};
    o.generic.numeric = {"age"};
    o.generic.category = "cat";
    o.generic.value = "price";
    if (implicit) {
      o.split = "temporal";
      o.negatives_per_positive = 3;
    } else {
      o.generic.click = "clk";
      o.generic.conversion = "buy";
    }
    const std::string in_memory = (dir_ / "mem.h5").string(), out_of_core = (dir_ / "ooc.h5").string();
    PrepareReport a = Prepare(o, in_memory, 9);
    o.memory_budget_mb = 1;  // about 7,000 rows per partition
    PrepareReport b = Prepare(o, out_of_core, 9);
    EXPECT_EQ(a.rows, b.rows);
    for (int k = 0; k < 3; ++k) EXPECT_EQ(a.split_rows[k], b.split_rows[k]);
    ExpectSamePreparedFile(in_memory, out_of_core);
    PreparedReader rb(out_of_core);
    const std::string notes = NotesOf(rb);
    EXPECT_NE(notes.find("prepared out of core: 40000 source rows spilled to disk and sorted in"), std::string::npos)
        << notes;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      EXPECT_EQ(entry.path().string().find(".spill."), std::string::npos) << "left behind: " << entry.path();
    }
  }
}

TEST_F(GenericInput, MalformedRowNamesFileLineAndExcerpt) {
  WriteText(dir_ / "log.csv", "uid,iid,ts\n1,10,100\n1,11,101\n2,10\n2,12,103\n");
  std::string m = ErrorOf(Options("log.csv"), Out(), StatusCode::kDataError);
  EXPECT_NE(m.find((dir_ / "log.csv").string() + ":4: expected 3 fields, found 2; the line reads '2,10'"),
            std::string::npos) << m;
}

TEST_F(GenericInput, SkipModeCountsSkippedRows) {
  WriteText(dir_ / "log.csv", "uid,iid,ts\n1,10,100\n1,11,abc\n2,10\n2,12,103\n2,13,104\n3,10,99\n");
  DataOptions o = Options("log.csv");
  o.on_bad_row = "skip";
  PrepareReport r = Prepare(o, Out(), 1);
  EXPECT_EQ(r.skipped_rows, 2);
  EXPECT_EQ(r.positives, 4);
  PreparedReader rd(Out());
  EXPECT_NE(NotesOf(rd).find("2 malformed source rows were skipped"), std::string::npos);
}

TEST_F(GenericInput, NonNumericTimeIsRejected) {
  WriteText(dir_ / "log.tsv", "uid\tiid\tts\n1\t10\tyesterday\n");
  std::string m = ErrorOf(Options("log.tsv"), Out(), StatusCode::kDataError);
  EXPECT_NE(m.find(":2: time 'yesterday' is not a unix timestamp"), std::string::npos) << m;
}

TEST_F(GenericInput, TimestampOverflowingInt64IsRejectedNamingLineAndValue) {
  WriteText(dir_ / "log.csv", "uid,iid,ts\n1,10,100\n1,11,99999999999999999999999\n");
  std::string m = ErrorOf(Options("log.csv"), Out(), StatusCode::kDataError);
  EXPECT_NE(m.find(":3: time '99999999999999999999999' does not fit a 64-bit unix timestamp"), std::string::npos) << m;
}

TEST_F(GenericInput, ValueOverflowingFloat32IsRejected) {
  WriteText(dir_ / "log.csv", "uid,iid,ts,price\n1,10,100,1e300\n");
  DataOptions o = Options("log.csv");
  o.generic.value = "price";
  std::string m = ErrorOf(o, Out(), StatusCode::kDataError);
  EXPECT_NE(m.find(":2: value '1e300' does not fit a 32-bit float"), std::string::npos) << m;
}

TEST_F(GenericInput, ByteOrderMarkBeforeTheHeaderIsIgnored) {
  // Spreadsheet tools save UTF-8 with a byte-order mark; the first column is still 'uid'.
  WriteText(dir_ / "log.csv", "\xEF\xBB\xBFuid,iid,ts\n1,10,100\n1,11,101\n2,12,103\n");
  PrepareReport r = Prepare(Options("log.csv"), Out(), 1);
  EXPECT_EQ(r.positives, 3);
}

TEST_F(GenericInput, BinaryBytesInAnErrorAreEscaped) {
  WriteText(dir_ / "log.csv", "uid,iid,ts\n1,10,100\n\x01\x02\xff\x1b[31m,x\n");
  std::string m = ErrorOf(Options("log.csv"), Out(), StatusCode::kDataError);
  EXPECT_NE(m.find("the line reads '\\x01\\x02\\xff\\x1b[31m,x'"), std::string::npos) << m;
  for (char c : m) EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') << "raw control byte in: " << m;
}

TEST(Excerpt, EscapesControlBytesAndInvalidUtf8ButKeepsValidUtf8) {
  EXPECT_EQ(Excerpt("caf\xC3\xA9 ok"), "caf\xC3\xA9 ok");                  // valid two-byte UTF-8 kept
  EXPECT_EQ(Excerpt(std::string("a\0b\tc\x7f", 6)), "a\\x00b\tc\\x7f");  // control bytes escaped, tab kept
  EXPECT_EQ(Excerpt("\xC3(\xE2\x82"), "\\xc3(\\xe2\\x82");                 // broken sequences escaped
  EXPECT_EQ(Excerpt(std::string(200, 'a'), 10), std::string(10, 'a') + "...");
}

TEST_F(GenericInput, MappingNamingAMissingColumnListsTheColumns) {
  WriteText(dir_ / "log.csv", "user,item,ts\n1,10,100\n");
  std::string m = ErrorOf(Options("log.csv"), Out(), StatusCode::kDataError);
  EXPECT_NE(m.find("data.generic.user names column 'uid', which the header does not have (columns: item, ts, user)"),
            std::string::npos) << m;
}

TEST_F(GenericInput, MissingFileIsAnIoErrorNamingIt) {
  std::string m = ErrorOf(Options("nope.csv"), Out(), StatusCode::kIoError);
  EXPECT_NE(m.find("nope.csv"), std::string::npos) << m;
}

TEST_F(GenericInput, EmptyResultAfterFilteringIsAnError) {
  WriteText(dir_ / "log.csv", "uid,iid,ts\n1,10,100\n1,11,101\n2,12,103\n");
  DataOptions o = Options("log.csv");
  o.min_user_interactions = 5;
  std::string m = ErrorOf(o, Out(), StatusCode::kDataError);
  EXPECT_NE(m.find("no interactions left after filtering: data.min_user_interactions = 5 removes all 2 users"),
            std::string::npos) << m;
}

TEST_F(GenericInput, FailedPrepareLeavesTheGoodFileInPlace) {
  WriteText(dir_ / "good.csv", "uid,iid,ts\n1,10,100\n1,11,101\n2,12,103\n");
  Prepare(Options("good.csv"), Out(), 1);
  const auto size = fs::file_size(Out());
  WriteText(dir_ / "bad.csv", "uid,iid,ts\n1,10,100\nbroken\n");
  ErrorOf(Options("bad.csv"), Out(), StatusCode::kDataError);
  EXPECT_EQ(fs::file_size(Out()), size);
  EXPECT_NO_THROW(PreparedReader{Out()});
  for (const auto& e : fs::directory_iterator(dir_)) {
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << "temporary left behind: " << e.path();
  }
}

TEST_F(GenericInput, ExplicitLabelsAndFeaturesAreKept) {
  WriteText(dir_ / "log.csv",
            "uid,iid,ts,clk,buy,price,cat,dev,age\n"
            "a,x,100,1,0,9.5,shoes|men,ios,31\n"
            "a,y,101,0,0,3,bags,ios,31\n"
            "b,x,102,1,1,9.5,shoes|men,web,22\n");
  DataOptions o = Options("log.csv");
  o.generic.click = "clk";
  o.generic.conversion = "buy";
  o.generic.value = "price";
  o.generic.category = "cat";
  o.generic.categorical = {"dev"};
  o.generic.numeric = {"age"};
  o.split = "random";
  PrepareReport r = Prepare(o, Out(), 1);
  EXPECT_EQ(r.sampled_negatives, 0) << "explicit exposures: no negatives sampled";
  PreparedReader rd(Out());
  Rows rows = rd.ReadRows(0, rd.num_rows());
  EXPECT_EQ(rows.click, (std::vector<uint8_t>{1, 0, 1}));
  EXPECT_EQ(rows.conversion, (std::vector<uint8_t>{0, 0, 1}));
  EXPECT_FLOAT_EQ(rows.value[0], 9.5f);
  EXPECT_EQ(rd.metadata().cat_feature_names, std::vector<std::string>{"dev"});
  EXPECT_EQ(rows.num_features, (std::vector<float>{31, 31, 22}));
  EXPECT_EQ(rd.items().num_categories, 4);  // 0 + shoes, men, bags
  EXPECT_EQ(rd.users().raw_id, (std::vector<std::string>{"a", "b"}));
  const std::string notes = NotesOf(rd);
  EXPECT_NE(notes.find("click = column 'clk' (0/1); conversion = column 'buy' (0/1)"), std::string::npos) << notes;
  EXPECT_NE(notes.find("value = column 'price'"), std::string::npos) << notes;
}

TEST_F(GenericInput, EventColumnMapsToClickAndConversion) {
  WriteText(dir_ / "log.csv", "uid,iid,ts,ev\n1,10,100,view\n1,11,101,order\n1,12,102,share\n2,10,103,cart\n");
  DataOptions o = Options("log.csv");
  o.generic.event = "ev";
  PrepareReport r = Prepare(o, Out(), 1);
  EXPECT_EQ(r.sampled_negatives, 0) << "an event column logs exposures: nothing sampled";
  PreparedReader rd(Out());
  Rows rows = rd.ReadRows(0, rd.num_rows());
  EXPECT_EQ(rows.click, (std::vector<uint8_t>{1, 1, 0, 1}));       // view, order (a conversion), share, cart
  EXPECT_EQ(rows.conversion, (std::vector<uint8_t>{0, 1, 0, 0}));
  EXPECT_EQ(rows.event[2], static_cast<uint8_t>(Event::kImpression));
}

TEST(PreparedReader, ExplainsWrongFilesAndVersions) {
  auto dir = TestTempDir("reader");
  WriteText(dir / "not.h5", "plain text");
  try {
    PreparedReader r((dir / "not.h5").string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is not an HDF5 file"), std::string::npos) << e.what();
  }
  try {
    PreparedReader r((dir / "missing.h5").string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::kIoError);
  }
}

TEST(Prepare, ChecksumMismatchInTheMirrorIsReported) {
  RP_REQUIRE_MIRROR();
  auto dir = TestTempDir("checksum");
  const std::string mirror = recprism::testing::MirrorOrSkip();
  fs::create_directories(dir / "ml-100k");
  for (const char* f : {"u.item.gz", "u.user.gz", "u.genre"}) fs::copy(mirror + "/ml-100k/" + f, dir / "ml-100k" / f);
  // u.data with one rating changed (still well-formed).
  LineReader in(mirror + "/ml-100k/u.data.gz");
  std::string line, text;
  while (in.Next(&line)) text += line + "\n";
  text[text.find('\t', text.find('\t') + 1) + 1] = text[text.find('\t', text.find('\t') + 1) + 1] == '3' ? '4' : '3';
  WriteText(dir / "ml-100k" / "u.data", text);
  DataOptions o = MirrorOptions("ml-100k");
  o.data_dir = dir.string();
  std::string m = ErrorOf(o, (dir / "out.h5").string(), StatusCode::kDataError);
  EXPECT_NE(m.find("checksum mismatch for '" + (dir / "ml-100k" / "u.data").string()), std::string::npos) << m;
  EXPECT_NE(m.find("6e47046882bad158b0efbb84cd5cb987"), std::string::npos) << m;
  EXPECT_FALSE(fs::exists(dir / "out.h5"));
}

// A copy of the ml-100k mirror whose u.data is replaced by `text` (gzipped, or truncated).
fs::path MirrorWithUData(const fs::path& dir, const std::string& text, bool truncate) {
  const std::string mirror = recprism::testing::MirrorOrSkip();
  fs::create_directories(dir / "ml-100k");
  for (const char* f : {"u.item.gz", "u.user.gz", "u.genre"}) fs::copy(mirror + "/ml-100k/" + f, dir / "ml-100k" / f);
  const auto gz_path = dir / "ml-100k" / "u.data.gz";
  gzFile gz = gzopen(gz_path.c_str(), "wb");
  gzwrite(gz, text.data(), static_cast<unsigned>(text.size()));
  gzclose(gz);
  if (truncate) fs::resize_file(gz_path, fs::file_size(gz_path) * 2 / 3);
  return gz_path;
}

std::string MirrorUData() {
  LineReader in(recprism::testing::MirrorOrSkip() + "/ml-100k/u.data.gz");
  std::string line, text;
  while (in.Next(&line)) text += line + "\n";
  return text;
}

TEST(Prepare, NonNumericIdInAPresetNamesFileAndLine) {
  RP_REQUIRE_MIRROR();
  auto dir = TestTempDir("nonnumeric");
  std::string text = MirrorUData();
  size_t line3 = text.find('\n', text.find('\n') + 1) + 1;
  text.replace(line3, text.find('\t', line3) - line3, "u22");
  auto path = MirrorWithUData(dir, text, false);
  DataOptions o = MirrorOptions("ml-100k");
  o.data_dir = dir.string();
  std::string m = ErrorOf(o, (dir / "out.h5").string(), StatusCode::kDataError);
  EXPECT_NE(m.find(path.string() + ":3: user, item, rating and timestamp must be integers; the line reads 'u22\t"),
            std::string::npos) << m;
}

TEST(Prepare, TruncatedGzipInTheMirrorIsReported) {
  RP_REQUIRE_MIRROR();
  auto dir = TestTempDir("truncmirror");
  auto path = MirrorWithUData(dir, MirrorUData(), true);
  DataOptions o = MirrorOptions("ml-100k");
  o.data_dir = dir.string();
  std::string m = ErrorOf(o, (dir / "out.h5").string(), StatusCode::kDataError);
  EXPECT_NE(m.find("'" + path.string() + "' is corrupt or truncated after line"), std::string::npos) << m;
}

TEST(Prepare, MissingSourceNamesEveryPlaceTried) {
  auto dir = TestTempDir("missing");
  DataOptions o;
  o.dataset = "jd";
  o.data_dir = dir.string();
  o.cache_dir = (dir / "cache").string();
  std::string m = ErrorOf(o, (dir / "out.h5").string(), StatusCode::kIoError);
  EXPECT_NE(m.find("jd-multibehavior/trn_pv.tsv not found"), std::string::npos) << m;
  EXPECT_NE(m.find(dir.string() + "/jd-multibehavior"), std::string::npos) << m;
  EXPECT_NE(m.find("cache"), std::string::npos) << m;
}

// The download step with file:// addresses (curl handles them like https://): fetched into the
// cache, checksum verified, zip members extracted; then found in the cache without a download.
TEST(Sources, DownloadVerifiesChecksumsAndFillsTheCache) {
  if (std::system("command -v curl >/dev/null && command -v unzip >/dev/null") != 0) GTEST_SKIP() << "curl/unzip missing";
  auto dir = TestTempDir("download");
  const std::string content = "1 1 2 3\n2 4 5\n";
  WriteText(dir / "origin" / "Seq.txt", content);
  DataOptions o;
  o.data_dir = (dir / "empty-mirror").string();
  o.cache_dir = (dir / "cache").string();
  KnownFile f{"demo", "Seq.txt", Md5Hex(content), "file://" + (dir / "origin" / "Seq.txt").string(), Md5Hex(content), ""};
  std::string path = ResolveFile(o, f);
  EXPECT_EQ(path, (dir / "cache" / "downloads" / "demo" / "Seq.txt").string());
  LineReader r(path);
  std::string line;
  while (r.Next(&line)) {}
  EXPECT_EQ(r.Md5Hex(), Md5Hex(content));
  f.url = "file:///nonexistent/Seq.txt";  // now served from the cache
  EXPECT_EQ(ResolveFile(o, f), path);

  // A corrupt download is rejected and nothing is left in the cache.
  KnownFile bad{"demo2", "Seq.txt", "", "file://" + (dir / "origin" / "Seq.txt").string(), std::string(32, '0'), ""};
  try {
    ResolveFile(o, bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::kDataError);
    EXPECT_NE(std::string(e.what()).find("checksum mismatch"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "cache" / "downloads" / "demo2" / "Seq.txt"));

  // A zip archive: the member is extracted next to it.
  ASSERT_EQ(std::system(("cd " + (dir / "origin").string() + " && /usr/bin/python3 -c \"import zipfile; "
                         "zipfile.ZipFile('a.zip','w').write('Seq.txt','ds/Seq.txt')\"").c_str()), 0);
  std::string zip_md5;
  {
    std::ifstream in(dir / "origin" / "a.zip", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    zip_md5 = Md5Hex(bytes);
  }
  KnownFile z{"demo3", "Seq.txt", Md5Hex(content), "file://" + (dir / "origin" / "a.zip").string(), zip_md5, "ds/Seq.txt"};
  EXPECT_EQ(ResolveFile(o, z), (dir / "cache" / "downloads" / "demo3" / "Seq.txt").string());

  // Download disabled, or a failing address: the error names every place tried.
  o.download = false;
  KnownFile missing{"demo4", "x.txt", "", "file:///nonexistent/x.txt", "", ""};
  try {
    ResolveFile(o, missing);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("data.download is false"), std::string::npos) << e.what();
  }
  o.download = true;
  try {
    ResolveFile(o, missing);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::kIoError);
    EXPECT_NE(std::string(e.what()).find("downloading file:///nonexistent/x.txt failed (curl exit status"), std::string::npos)
        << e.what();
  }
}

TEST(Prepare, SourceSplitOnAPresetWithoutOneIsAConfigError) {
  RP_REQUIRE_MIRROR();
  DataOptions o = MirrorOptions("ml-100k");
  o.split = "source";
  auto dir = TestTempDir("source");
  std::string m = ErrorOf(o, (dir / "x.h5").string(), StatusCode::kInvalidConfig);
  EXPECT_NE(m.find("has no splits in its source files"), std::string::npos) << m;
}

}  // namespace
}  // namespace recprism::data

namespace recprism::data {
namespace {

// A generic event log of views and purchases only (the commonest real log): 30 users, 6 events
// each, `extra` appended as more rows.
DataOptions EventLog(const fs::path& dir, const std::string& extra = "") {
  std::string text = "user_id,movie_id,rating,ts,event\n";
  for (int u = 0; u < 30; ++u) {
    for (int k = 0; k < 6; ++k) {
      text += fmt::format("u{},m{},{},{},{}\n", u, (u * 7 + k * 3) % 50, 1 + k % 5, 1000 + 10 * k,
                          k == 5 ? "purchase" : "view");
    }
  }
  WriteText(dir / "events.csv", text + extra);
  DataOptions o;
  o.dataset = "generic";
  o.generic.path = (dir / "events.csv").string();
  o.generic.user = "user_id";
  o.generic.item = "movie_id";
  o.generic.time = "ts";
  o.generic.event = "event";
  o.negatives_per_positive = 4;
  o.cache_dir = (dir / "cache").string();
  o.download = false;
  return o;
}

TEST(PrepareGeneric, AnEventLogWithoutExposuresGetsSampledNegativesAndSaysSo) {
  const auto dir = TestTempDir("exposures");
  DataOptions o = EventLog(dir);
  const PrepareReport r = Prepare(o, (dir / "auto.h5").string(), 1);
  EXPECT_EQ(r.positives, 180);
  EXPECT_EQ(r.sampled_negatives, 4 * 180);
  EXPECT_TRUE(r.warnings.empty());
  for (int s = 0; s < 3; ++s) {
    EXPECT_GT(r.split_clicks[s], 0);
    EXPECT_LT(r.split_clicks[s], r.split_rows[s]);
  }
  PreparedReader rd((dir / "auto.h5").string());
  EXPECT_NE(NotesOf(rd).find("no row is a non-click exposure"), std::string::npos) << NotesOf(rd);
  // The user may keep the log as it is: then every split's click rate is 1, and prepare says so.
  o.generic.exposures = "logged";
  const PrepareReport logged = Prepare(o, (dir / "logged.h5").string(), 1);
  EXPECT_EQ(logged.sampled_negatives, 0);
  ASSERT_EQ(logged.warnings.size(), 3u);
  EXPECT_NE(logged.warnings[0].find("split train: the click rate is 1 (120 of 120 rows are clicks)"), std::string::npos)
      << logged.warnings[0];
  // The choice is recorded: a config that leaves it at auto does not silently reuse the file.
  o.generic.exposures = "auto";
  const std::string msg = [&] {
    try {
      CheckPreparedMatches(o, (dir / "logged.h5").string());
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  }();
  EXPECT_NE(msg.find("generic.exposures: the file has logged"), std::string::npos) << msg;
}

TEST(PrepareGeneric, ALogWithNonClickExposuresKeepsThemUnlessSampledIsAsked) {
  const auto dir = TestTempDir("exposures_logged");
  // One impression row (an event in neither list) makes the log one of logged exposures.
  DataOptions o = EventLog(dir, "u1,m49,0,1001,impression\n");
  const PrepareReport r = Prepare(o, (dir / "auto.h5").string(), 1);
  EXPECT_EQ(r.sampled_negatives, 0);
  EXPECT_EQ(r.rows, 181);
  PreparedReader rd((dir / "auto.h5").string());
  EXPECT_NE(NotesOf(rd).find("logged exposures (1 rows without a click)"), std::string::npos) << NotesOf(rd);
  o.generic.exposures = "sampled";
  const PrepareReport s = Prepare(o, (dir / "sampled.h5").string(), 1);
  EXPECT_EQ(s.sampled_negatives, 4 * 180);
  EXPECT_EQ(s.rows, 181 + 4 * 180);
}

TEST(PrepareGeneric, QuotedFieldsAreReadAsRfc4180) {
  const auto dir = TestTempDir("quoted");
  // Ids with the delimiter, doubled quotes, a newline inside quotes and CRLF line ends.
  std::string text = "\"user id\",item,ts,city\r\n";
  for (int u = 0; u < 4; ++u) {
    for (int k = 0; k < 4; ++k) {
      text += fmt::format("u{},\"item, {}\",{},\"Bonn, DE\"\r\n", u, k, 100 + k);
    }
  }
  text += "u9,\"say \"\"hi\"\"\",1,\"two\nlines\"\r\nu9,plain,2,Köln\r\nu9,plain2,3,x\r\n";
  WriteText(dir / "q.csv", text);
  DataOptions o;
  o.dataset = "generic";
  o.generic.path = (dir / "q.csv").string();
  o.generic.user = "user id";
  o.generic.item = "item";
  o.generic.time = "ts";
  o.generic.categorical = {"city"};
  o.negatives_per_positive = 0;
  o.cache_dir = (dir / "cache").string();
  const PrepareReport r = Prepare(o, (dir / "q.h5").string(), 1);
  EXPECT_EQ(r.rows, 19);
  EXPECT_EQ(r.users, 5);
  PreparedReader rd((dir / "q.h5").string());
  std::set<std::string> items(rd.items().raw_id.begin() + 1, rd.items().raw_id.end());
  EXPECT_EQ(items, (std::set<std::string>{"item, 0", "item, 1", "item, 2", "item, 3", "say \"hi\"", "plain", "plain2"}));
  EXPECT_EQ(rd.metadata().cat_feature_cardinality.at(0), 4 + 1);  // Bonn, DE / two\nlines / Köln / x, plus padding
  // A malformed quote names its file and line; so does one never closed.
  WriteText(dir / "bad.csv", "user,item\nu1,i1\nu1,\"i\"2\n");
  o.generic.path = (dir / "bad.csv").string();
  o.generic.user = "user";
  o.generic.time = "";
  o.generic.categorical = {};
  std::string msg = ErrorOf(o, (dir / "bad.h5").string(), StatusCode::kDataError);
  EXPECT_NE(msg.find("bad.csv:3: a closing quote is followed by text"), std::string::npos) << msg;
  WriteText(dir / "open.csv", "user,item\nu1,i1\nu1,\"i2\nu2,i3\n");
  o.generic.path = (dir / "open.csv").string();
  msg = ErrorOf(o, (dir / "open.h5").string(), StatusCode::kDataError);
  EXPECT_NE(msg.find("open.csv:3: a quoted field opened on this line is never closed"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(dir / "open.h5"));
}

TEST(CsvSplitter, SplitsQuotedFieldsAndFindsOpenQuotes) {
  CsvSplitter sp;
  std::vector<std::string_view> f;
  auto split = [&](std::string_view rec) {
    EXPECT_EQ(sp.Split(rec, ',', &f), CsvSplitter::Result::kOk) << rec;
    return std::vector<std::string>(f.begin(), f.end());
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(split("a,b,,c,"), (V{"a", "b", "", "c", ""}));
  EXPECT_EQ(split("\"a,b\",\"\",\"x\"\"y\",z"), (V{"a,b", "", "x\"y", "z"}));
  EXPECT_EQ(split("ab\"c,d"), (V{"ab\"c", "d"}));  // a quote inside an unquoted field is text
  EXPECT_EQ(split("\"l1\nl2\",3"), (V{"l1\nl2", "3"}));
  EXPECT_EQ(sp.Split("\"open,x", ',', &f), CsvSplitter::Result::kOpenQuote);
  EXPECT_EQ(sp.Split("\"ab\"c,x", ',', &f), CsvSplitter::Result::kTextAfterQuote);
  EXPECT_TRUE(QuoteOpenAtEnd("a,\"b", ','));
  EXPECT_TRUE(QuoteOpenAtEnd("a,\"b\"\"", ','));
  EXPECT_FALSE(QuoteOpenAtEnd("a,\"b\"\"\"", ','));
  EXPECT_FALSE(QuoteOpenAtEnd("a,b\"c", ','));
  EXPECT_FALSE(QuoteOpenAtEnd("plain,line", ','));
}

}  // namespace
}  // namespace recprism::data
