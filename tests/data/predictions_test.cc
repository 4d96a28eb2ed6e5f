// The predictions reader: every malformed row named by file:line and column, RFC 4180 quoting, and
// shared reading (byte ranges, dealt gzip blocks) that gives each rank exactly the rows one reader
// would give it, with exact line numbers, at world sizes 1 to 5 (threads as ranks; the real MPI
// runs are in tests/eval/eval_cli_test.sh).
#include <gtest/gtest.h>
#include <fmt/format.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>

#include <unistd.h>

#include "comm/inproc/inproc_comm.h"
#include "core/md5.h"
#include "core/status.h"
#include "data/predictions.h"
#include "data/text_input.h"

namespace recprism::data {
namespace {

CommOptions Options() {
  CommOptions o;
  o.timeout_s = 60;
  return o;
}

// Every rank's rows at world size `world`.
std::vector<PredictionRows> ReadAll(const std::string& path, const PredictionColumns& cols, int world) {
  std::vector<PredictionRows> out(static_cast<size_t>(world));
  RunInProc(world, Options(), [&](Communicator& c) { out[c.Rank()] = ReadPredictions(path, cols, c); });
  return out;
}

class PredictionsReader : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& content) {
    const auto dir = std::filesystem::temp_directory_path() / ("rp_pred_" + std::to_string(::getpid()));
    const std::string path = (dir / name).string();
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  std::string WriteGzip(const std::string& name, const std::string& content) {
    const std::string path = Write(name, "");
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, content.data(), static_cast<unsigned>(content.size()));
    gzclose(f);
    return path;
  }
  std::string ErrorOf(const std::string& path, int world = 1, const PredictionColumns& cols = {}) {
    try {
      ReadAll(path, cols, world);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), StatusCode::kDataError) << e.what();
      return e.what();
    }
    ADD_FAILURE() << path << " was accepted at world size " << world;
    return "";
  }
};

TEST_F(PredictionsReader, EveryMalformedRowIsNamedByFileLineAndColumn) {
  const std::string h = "user,item,click,conversion,p_ctr,p_cvr\n";
  struct Case {
    std::string name, body, expect;
  };
  const std::vector<Case> cases = {
      {"missing.csv", "user,item,click,p_cvr\n1,2,0,0.5\n", "missing.csv:1: missing column 'p_ctr'"},
      {"nonnum.csv", h + "1,2,0,0,0.5,0.5\n1,3,1,0,abc,0.5\n", "nonnum.csv:3: column 'p_ctr': expected a probability, found 'abc'"},
      {"range.csv", h + "1,2,0,0,1.5,0.5\n", "range.csv:2: column 'p_ctr': expected a probability in [0, 1], found 1.5"},
      {"nan.csv", h + "1,2,0,0,0.5,nan\n", "nan.csv:2: column 'p_cvr'"},
      {"label.csv", h + "1,2,2,0,0.5,0.5\n", "label.csv:2: column 'click': expected a 0/1 label, found '2'"},
      {"empty.csv", "", "empty.csv: the predictions file is empty"},
      {"header.csv", h, "header.csv: no rows after the header"},
      {"chain.csv", h + "1,2,0,1,0.5,0.5\n", "chain.csv:2: columns 'click' and 'conversion': a conversion needs a click"},
      {"width.csv", h + "1,2,0,0,0.5\n", "width.csv:2: expected 6 fields (as the header), found 5"},
      {"nocvr.csv", "user,item,click,conversion,p_ctr\n1,2,1,1,0.5\n", "nocvr.csv:1: column 'conversion' is present but neither 'p_cvr' nor 'p_ctcvr'"},
  };
  for (const auto& c : cases) {
    const std::string msg = ErrorOf(Write(c.name, c.body));
    EXPECT_NE(msg.find(c.expect), std::string::npos) << "expected '" << c.expect << "' in: " << msg;
  }
}

TEST_F(PredictionsReader, AcceptsAByteOrderMarkTabsAndDerivesPctcvr) {
  const auto rows = ReadAll(
      Write("bom.tsv", "\xEF\xBB\xBFuser\titem\tclick\tconversion\tp_ctr\tp_cvr\nu1\ti1\t1\t1\t0.5\t0.4\nu1\ti2\t0\t0\t0.2\t0.1\n"),
      PredictionColumns{}, 1)[0];
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_DOUBLE_EQ(rows.p_ctcvr[0], 0.2);
  EXPECT_TRUE(rows.has_conversion);
  EXPECT_FALSE(rows.has_value);
}

TEST_F(PredictionsReader, ReadsQuotedFieldsAsRfc4180) {
  // Slice values with the delimiter, doubled quotes and a newline inside quotes; the record that
  // spans two lines is counted once and the line numbers after it stay exact.
  const std::string body =
      "user,\"item\",click,p_ctr,city\r\n"
      "u1,i1,1,0.5,\"Bonn, DE\"\r\n"
      "u1,i2,0,0.25,\"say \"\"hi\"\"\"\r\n"
      "\"u2\",i1,0,0.125,\"two\nlines\"\r\n"
      "u2,i3,1,0.75,Bonn\r\n";
  PredictionColumns cols;
  cols.slices = {"city"};
  const auto rows = ReadAll(Write("quoted.csv", body), cols, 1)[0];
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows.file_rows, 4);
  std::vector<std::string> cities;
  for (uint32_t c : rows.slice_codes[0]) cities.push_back(rows.slice_values[0][c]);
  EXPECT_EQ(cities, (std::vector<std::string>{"Bonn, DE", "say \"hi\"", "two\nlines", "Bonn"}));
  EXPECT_EQ(rows.user[2], IdKey("u2"));
  EXPECT_EQ(rows.user[0], rows.user[1]);
  EXPECT_DOUBLE_EQ(rows.p_ctr[2], 0.125);
  // Errors after a multi-line record name the record's own first line.
  std::string msg = ErrorOf(Write("quoted_bad.csv", "user,item,click,p_ctr,city\nu1,i1,1,0.5,\"a\nb\"\nu1,i2,1,x,c\n"));
  EXPECT_NE(msg.find("quoted_bad.csv:4: column 'p_ctr'"), std::string::npos) << msg;
  msg = ErrorOf(Write("open_quote.csv", "user,item,click,p_ctr,city\nu1,i1,1,0.5,ok\nu1,i2,1,0.5,\"never closed\nu1,i3,1,0.5,x\n"));
  EXPECT_NE(msg.find("open_quote.csv:3: a quoted field opened on this line is never closed"), std::string::npos) << msg;
  msg = ErrorOf(Write("after_quote.csv", "user,item,click,p_ctr,city\nu1,i1,1,0.5,\"ab\"c\n"));
  EXPECT_NE(msg.find("after_quote.csv:2: a closing quote is followed by text"), std::string::npos) << msg;
}

// ---- Shared reading ----

// A predictions body of `n` rows over 37 users: conversions, values, categories and a slice whose
// values are sometimes quoted (with the delimiter inside). p_ctr is always 8 characters wide, so a
// test can spoil one row without moving any byte after it.
std::string Body(int n, char delim = ',', const std::string& eol = "\n", uint64_t seed = 7) {
  std::mt19937_64 g(seed);
  const std::string d(1, delim);
  std::string s = "user" + d + "item" + d + "click" + d + "conversion" + d + "p_ctr" + d + "p_cvr" + d + "value" + d +
                  "category" + d + "city" + eol;
  for (int i = 0; i < n; ++i) {
    const int click = static_cast<int>(g() % 3 == 0), conv = click && g() % 2 == 0;
    const std::string city = g() % 4 == 0 ? "\"Bonn" + d + " DE\"" : (g() % 2 ? "Paris" : "\"Rome\"");
    s += "u" + std::to_string(g() % 37) + d + "i" + std::to_string(g() % 101) + d + std::to_string(click) + d +
         std::to_string(conv) + d + fmt::format("{:.6f}", static_cast<double>(g() % 1000000) / 1e6) + d +
         fmt::format("{:.3f}", static_cast<double>(g() % 1000) / 1e3) + d + std::to_string(g() % 50) + d + "c" +
         std::to_string(g() % 5) + "|c" + std::to_string(g() % 5) + d + city + eol;
  }
  return s;
}

PredictionColumns CityColumns() {
  PredictionColumns cols;
  cols.slices = {"city"};
  return cols;
}

// Row i as text, every column included (slice values and categories resolved).
std::string RowText(const PredictionRows& r, size_t i) {
  std::string s = fmt::format("{} {} {} {:.17g}", r.user[i], r.item[i], r.click[i], r.p_ctr[i]);
  if (r.has_conversion) s += fmt::format(" {} {:.17g} {:.17g}", r.conversion[i], r.p_cvr[i], r.p_ctcvr[i]);
  if (r.has_value) s += fmt::format(" {:.17g}", r.value[i]);
  if (r.has_category) {
    for (uint32_t k = r.category_offsets[i]; k < r.category_offsets[i + 1]; ++k) s += fmt::format(" c{}", r.categories[k]);
  }
  for (size_t c = 0; c < r.slice_codes.size(); ++c) s += " [" + r.slice_values[c][r.slice_codes[c][i]] + "]";
  return s;
}

// At every world size, rank r holds exactly the one-reader rows whose user is r's, in file order,
// and every rank agrees on the row count and the checksum.
void ExpectSameRowsAsOneReader(const std::string& path, const PredictionColumns& cols, std::vector<int> worlds) {
  const PredictionRows one = ReadAll(path, cols, 1)[0];
  for (int world : worlds) {
    const auto ranks = ReadAll(path, cols, world);
    for (int r = 0; r < world; ++r) {
      std::vector<std::string> expect, got;
      for (size_t i = 0; i < one.size(); ++i) {
        if (UserShard(one.user[i], world) == r) expect.push_back(RowText(one, i));
      }
      for (size_t i = 0; i < ranks[r].size(); ++i) got.push_back(RowText(ranks[r], i));
      EXPECT_EQ(got, expect) << path << ": world " << world << ", rank " << r;
      EXPECT_EQ(ranks[r].file_rows, one.file_rows) << path << ": world " << world;
      EXPECT_EQ(ranks[r].checksum, one.checksum) << path << ": world " << world;
    }
  }
}

TEST_F(PredictionsReader, EveryRankGetsItsUsersRowsInFileOrderAtWorldSizes1To5) {
  const std::string body = Body(3000);
  std::string no_final_newline = body;
  no_final_newline.pop_back();
  std::string blank_lines = Body(500);
  blank_lines.insert(blank_lines.find('\n') + 1, "\n\n");
  const std::vector<std::pair<std::string, std::string>> files = {
      {"plain.csv", body},           {"tabs.tsv", Body(3000, '\t')}, {"crlf.csv", Body(3000, ',', "\r\n")},
      {"no_eol.csv", no_final_newline}, {"blank.csv", blank_lines}};
  for (const auto& [name, content] : files) ExpectSameRowsAsOneReader(Write(name, content), CityColumns(), {2, 3, 4, 5});
  // gzip: every rank decompresses, each parses its dealt blocks; the checksum is of the content.
  const std::string gz = WriteGzip("big.csv.gz", Body(140000, ',', "\n", 11));
  ExpectSameRowsAsOneReader(gz, CityColumns(), {2, 3});
  EXPECT_EQ(ReadAll(gz, CityColumns(), 1)[0].checksum,
            ReadAll(Write("big.csv", Body(140000, ',', "\n", 11)), CityColumns(), 2)[0].checksum);
}

TEST_F(PredictionsReader, TheChecksumIsTheMd5OfTheBlocksMd5s) {
  // One block: md5 of the content's hex md5.
  const std::string body = Body(100);
  EXPECT_EQ(ReadAll(Write("one_block.csv", body), CityColumns(), 3)[0].checksum, Md5Hex(Md5Hex(body)));
  // 40 MiB: three blocks, the last one short, whoever hashes which.
  std::string bytes(size_t{40} << 20, '\0');
  std::mt19937_64 g(3);
  for (auto& c : bytes) c = static_cast<char>(g());
  std::string hexes;
  for (size_t at = 0; at < bytes.size(); at += BlockHasher::kBlock) {
    hexes += Md5Hex(std::string_view(bytes).substr(at, BlockHasher::kBlock));
  }
  const std::string expect = Md5Hex(hexes);
  for (int every : {1, 2, 3}) {
    std::vector<std::pair<int64_t, std::string>> all;
    for (int which = 0; which < every; ++which) {
      BlockHasher h(every, which);
      for (size_t at = 0; at < bytes.size(); at += 1000003) {
        h.Update(static_cast<int64_t>(at), bytes.data() + at, std::min<size_t>(1000003, bytes.size() - at));
      }
      for (auto& d : h.Finish()) all.push_back(d);
    }
    EXPECT_EQ(FileChecksum(all), expect) << "blocks dealt to " << every << " hashers";
  }
  const std::string path = Write("random.bin", bytes);
  std::vector<std::pair<int64_t, std::string>> ranged;
  const auto size = static_cast<int64_t>(bytes.size());
  for (int r = 0; r < 3; ++r) {
    for (auto& d : HashFileBlocks(path, size * r / 3, size * (r + 1) / 3, size)) ranged.push_back(d);
  }
  EXPECT_EQ(FileChecksum(ranged), expect);
  EXPECT_THROW(FileChecksum({{0, "a"}, {2, "b"}}), Error);
}

TEST_F(PredictionsReader, AQuotedFieldSpanningARangeBoundaryIsReadWhole) {
  // A slice value of 400 lines inside quotes in the middle of the file: a byte range starts inside
  // it, so the reader falls back to streaming; the rows are still every rank's own.
  std::string body = Body(300);
  std::string lines;
  for (int i = 0; i < 400; ++i) lines += "line " + std::to_string(i) + (i + 1 < 400 ? "\n" : "");
  const size_t mid = body.find('\n', body.size() / 2) + 1;
  body.insert(mid, "u5,i5,1,0,0.500000,0.100,3,c1,\"" + lines + "\"\n");
  ExpectSameRowsAsOneReader(Write("multiline.csv", body), CityColumns(), {2, 3, 5});
  EXPECT_EQ(ReadAll(Write("multiline2.csv", body), CityColumns(), 3)[0].file_rows, 301);
}

TEST_F(PredictionsReader, ABadRowAtARangeBoundaryOrInTheLastRangeIsNamedByItsLine) {
  std::string body = Body(400);
  body.insert(body.find('\n') + 1, "\n");  // a blank line 2: line numbers count it
  std::vector<size_t> starts;               // byte offset of each line (index = line number - 1)
  for (size_t at = 0; at < body.size(); at = body.find('\n', at) + 1) starts.push_back(at);
  const size_t h = starts[1];
  auto line_of = [&](size_t byte) {
    return static_cast<size_t>(std::upper_bound(starts.begin(), starts.end(), byte) - starts.begin());  // 1-based
  };
  for (int world : {1, 2, 3, 5}) {
    std::vector<size_t> targets = {starts.size()};  // the last line
    for (int r = 1; r < world; ++r) {
      const size_t a = h + (body.size() - h) * r / world;
      targets.push_back(line_of(a - 1));  // the line holding the byte before the boundary
      targets.push_back(line_of(a));      // and the one holding the boundary byte
      targets.push_back(line_of(a) + 1);
    }
    for (size_t line : targets) {
      if (line < 3 || line > starts.size()) continue;
      std::string bad = body;
      const size_t field = bad.find(',', bad.find(',', bad.find(',', bad.find(',', starts[line - 1]) + 1) + 1) + 1) + 1;
      bad.replace(field, 8, "bad_pctr");
      const std::string name = fmt::format("bad_{}_{}.csv", world, line);
      const std::string msg = ErrorOf(Write(name, bad), world, CityColumns());
      EXPECT_NE(msg.find(fmt::format("{}:{}: column 'p_ctr': expected a probability, found 'bad_pctr'", name, line)),
                std::string::npos)
          << "world " << world << ": " << msg;
    }
  }
}

TEST_F(PredictionsReader, TinyFilesAndLinesLongerThanARange) {
  ExpectSameRowsAsOneReader(Write("one_row.csv", "user,item,click,p_ctr\nu1,i1,1,0.5\n"), {}, {2, 3, 5});
  ExpectSameRowsAsOneReader(Write("two_rows.csv", "user,item,click,p_ctr\nu1,i1,1,0.5\nu2,i2,0,0.25"), {}, {5});
  std::string body = Body(20);
  body += "u3,i3,1,0,0.500000,0.100,3,c1," + std::string(20000, 'x') + "\n" + Body(20).substr(body.find('\n') + 1);
  ExpectSameRowsAsOneReader(Write("long_line.csv", body), CityColumns(), {2, 3, 5});
  const std::string msg = ErrorOf(Write("header_only.csv", "user,item,click,p_ctr\n"), 3);
  EXPECT_NE(msg.find("no rows after the header"), std::string::npos) << msg;
}

TEST_F(PredictionsReader, AShardedDirectoryGivesTheRowsOfItsFilesInPathOrder) {
  // Five files of unequal sizes (one gzip, one with a header only), a file that is not predictions
  // and a hidden one, both skipped.
  const std::string dir = Write("shards/.keep", "");
  const std::string root = std::filesystem::path(dir).parent_path().string();
  const std::string all = Body(4000, ',', "\n", 21);
  std::vector<std::string> lines;
  for (size_t at = all.find('\n') + 1; at < all.size(); at = all.find('\n', at) + 1) {
    lines.push_back(all.substr(at, all.find('\n', at) + 1 - at));
  }
  const std::string header = all.substr(0, all.find('\n') + 1);
  auto part = [&](size_t b, size_t e) {
    std::string s = header;
    for (size_t i = b; i < e; ++i) s += lines[i];
    return s;
  };
  Write("shards/part-0.csv", part(0, 300));
  WriteGzip("shards/part-1.csv.gz", part(300, 2500));
  Write("shards/part-2.csv", part(2500, 2500));
  Write("shards/part-3.csv", part(2500, 3100));
  Write("shards/part-4.csv", part(3100, 4000));
  Write("shards/README.md", "not predictions\n");
  Write("shards/.hidden.csv", "garbage\n");
  const std::string whole = Write("whole.csv", part(0, 4000));
  const PredictionRows one = ReadAll(whole, CityColumns(), 1)[0];
  for (const std::string& input : {root, root + "/part-*.csv*"}) {
    for (int world : {1, 2, 3, 5}) {
      const auto ranks = ReadAll(input, CityColumns(), world);
      for (int r = 0; r < world; ++r) {
        std::vector<std::string> expect, got;
        for (size_t i = 0; i < one.size(); ++i) {
          if (UserShard(one.user[i], world) == r) expect.push_back(RowText(one, i));
        }
        for (size_t i = 0; i < ranks[r].size(); ++i) got.push_back(RowText(ranks[r], i));
        EXPECT_EQ(got, expect) << input << ": world " << world << ", rank " << r;
        EXPECT_EQ(ranks[r].file_rows, 4000);
        EXPECT_EQ(ranks[r].checksum, ReadAll(input, CityColumns(), 1)[0].checksum) << input << ": world " << world;
      }
    }
  }
  // A bad row in one file is named by that file and its own line.
  Write("shards/part-5.csv", part(0, 50) + "u1,i1,1,0,notaprob,0.100,3,c1,Paris\n");
  const std::string msg = ErrorOf(root, 3, CityColumns());
  EXPECT_NE(msg.find("part-5.csv:52: column 'p_ctr'"), std::string::npos) << msg;
  std::filesystem::remove(root + "/part-5.csv");
  Write("shards/part-5.csv", "user,item,click,p_ctr\nu1,i1,1,0.5\n");
  const std::string cols_msg = ErrorOf(root, 2, CityColumns());
  EXPECT_NE(cols_msg.find("missing column 'city'"), std::string::npos) << cols_msg;
  std::filesystem::remove(root + "/part-5.csv");
  EXPECT_NE(ErrorOf(root + "/nothing-*.csv", 2).find("no predictions files found"), std::string::npos);
}

}  // namespace
}  // namespace recprism::data
