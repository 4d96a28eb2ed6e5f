// Fuzz tests of the text parsers: the generic row layout (CSV), the generic sequences layout and the
// item-attributes JSON. Two kinds of input:
//  - structured: random files with a known set of malformed lines (the oracle). In skip mode the
//    skipped count and the kept rows must match it exactly; in fail mode the error must name the
//    first malformed line.
//  - mutated: byte flips, insertions, deletions and duplicated lines in valid files. Whatever the
//    input, prepare either succeeds with every line accounted for (kept or skipped) or throws a
//    recprism Error whose message names the file and has no raw control bytes. No crash, no hang:
//    CI runs this under AddressSanitizer.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/status.h"
#include "data/prepare.h"
#include "data_test_util.h"

namespace recprism::data {
namespace {

using recprism::testing::TestTempDir;
using recprism::testing::WriteText;
namespace fs = std::filesystem;

// Every byte of an error message is printable, a tab or newline, or part of valid UTF-8.
bool PrintableMessage(const std::string& m) {
  for (size_t i = 0; i < m.size(); ++i) {
    const auto c = static_cast<unsigned char>(m[i]);
    if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7F)) continue;
    if (c < 0x80 || c == 0x7F) return false;
    size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (n == 0 || i + n > m.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(m[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n - 1;
  }
  return true;
}

// Lines the reader hands to a parser: split on '\n', one trailing '\r' dropped, empty lines skipped.
int64_t DataLines(const std::string& text, int header_lines) {
  int64_t n = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    size_t len = end - start;
    if (len > 0 && text[start + len - 1] == '\r') --len;
    if (start == 0 && len >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) len -= 3;
    n += len > 0;
    start = end + 1;
  }
  return n - header_lines;
}

struct Generated {
  std::string text;
  int64_t valid = 0, malformed = 0, kept_items = 0;
  int64_t first_bad_line = 0;  // 1-based, 0 = none
};

// A generic CSV with header uid,iid,ts,clk,buy,price and a share of malformed rows of every kind.
Generated RowsFile(std::mt19937_64& rng, int rows, double bad_share) {
  Generated g;
  g.text = "uid,iid,ts,clk,buy,price\n";
  std::uniform_real_distribution<double> u01(0, 1);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  for (int r = 0; r < rows; ++r) {
    std::string user = "u" + std::to_string(pick(12)), item = "i" + std::to_string(pick(40));
    std::string ts = std::to_string(1'600'000'000 + pick(1'000'000));
    const int clk = pick(2), buy = clk ? pick(2) : 0;
    std::string price = pick(5) == 0 ? "" : std::to_string(pick(10000) / 100.0);
    std::string c = std::to_string(clk), b = std::to_string(buy);
    int kind = u01(rng) < bad_share ? 1 + pick(9) : 0;
    switch (kind) {
      case 1: g.text += user + "," + item + "," + ts + "," + c + "," + b + "\n"; break;  // a field short
      case 2: g.text += user + "," + item + "," + ts + "," + c + "," + b + "," + price + ",x\n"; break;
      case 3: {
        const char* bad_ts[] = {"abc", "99999999999999999999999", "", "nan", "1e30", "12:30", "\x01\xff"};
        ts = bad_ts[pick(7)];
        break;
      }
      case 4: c = pick(2) ? "2" : "yes"; break;
      case 5: c = "0"; b = "1"; break;  // a conversion without a click
      case 6: user = pick(2) ? "" : "  "; break;
      case 7: price = pick(2) ? "1e40" : "inf"; break;
      case 8: item = ""; break;
      case 9: b = "-1"; break;
      default: break;
    }
    if (kind != 1 && kind != 2) g.text += user + "," + item + "," + ts + "," + c + "," + b + "," + price + "\n";
    if (kind == 0) {
      ++g.valid;
    } else {
      ++g.malformed;
      if (g.first_bad_line == 0) g.first_bad_line = r + 2;  // the header is line 1
    }
  }
  return g;
}

// A sequences file: one user per line; malformed lines are a lone user or a user seen before.
Generated SequencesFile(std::mt19937_64& rng, int users, double bad_share) {
  Generated g;
  std::uniform_real_distribution<double> u01(0, 1);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  std::vector<int> kept_users;  // users whose line was valid
  for (int u = 0; u < users; ++u) {
    std::string line = "user" + std::to_string(u);
    int kind = u01(rng) < bad_share ? 1 + pick(2) : 0;
    if (kind == 2 && kept_users.empty()) kind = 1;
    if (kind == 2) line = "user" + std::to_string(kept_users[pick(static_cast<int>(kept_users.size()))]);  // again
    if (kind == 0) kept_users.push_back(u);
    const int n = kind == 1 ? 0 : 1 + pick(8);
    for (int k = 0; k < n; ++k) line += (pick(4) == 0 ? "  " : " ") + std::string("it") + std::to_string(pick(30));
    if (pick(5) == 0) line += " ";
    g.text += line + (pick(6) == 0 ? "\r\n" : "\n");
    if (kind == 0) {
      ++g.valid;
      g.kept_items += n;
    } else {
      ++g.malformed;
      if (g.first_bad_line == 0) g.first_bad_line = u + 1;
    }
  }
  return g;
}

std::string Mutate(std::mt19937_64& rng, std::string text) {
  const int edits = 1 + static_cast<int>(rng() % 8);
  for (int e = 0; e < edits && !text.empty(); ++e) {
    const size_t at = rng() % text.size();
    switch (rng() % 5) {
      case 0: text[at] = static_cast<char>(rng() % 256); break;
      case 1: text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), static_cast<char>(rng() % 256)); break;
      case 2: text.erase(at, 1 + rng() % 3); break;
      case 3: text.insert(at, "\n"); break;
      case 4: {  // duplicate the line around `at`
        size_t s = text.rfind('\n', at);
        s = s == std::string::npos ? 0 : s + 1;
        size_t t = text.find('\n', at);
        t = t == std::string::npos ? text.size() : t + 1;
        text.insert(s, text.substr(s, t - s));
        break;
      }
    }
  }
  return text;
}

class ParserFuzz : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = TestTempDir("fuzz"); }
  DataOptions RowsOptions(const std::string& skip_or_fail) {
    DataOptions o;
    o.dataset = "generic";
    o.generic.path = (dir_ / "log.csv").string();
    o.generic.delimiter = "comma";
    o.generic.user = "uid";
    o.generic.item = "iid";
    o.generic.time = "ts";
    o.generic.click = "clk";
    o.generic.conversion = "buy";
    o.generic.value = "price";
    o.on_bad_row = skip_or_fail;
    o.split = "random";
    return o;
  }
  DataOptions SeqOptions(const std::string& skip_or_fail) {
    DataOptions o;
    o.dataset = "generic";
    o.generic.layout = "sequences";
    o.generic.path = (dir_ / "seq.txt").string();
    o.on_bad_row = skip_or_fail;
    o.negatives_per_positive = 1;
    return o;
  }
  std::string Out() { return (dir_ / "out.h5").string(); }
  fs::path dir_;
};

TEST_F(ParserFuzz, StructuredRowsFilesAreParsedExactlyAsTheOracleSays) {
  std::mt19937_64 rng(20261129);
  for (int round = 0; round < 60; ++round) {
    Generated g = RowsFile(rng, 5 + static_cast<int>(rng() % 60), round % 3 == 0 ? 0.0 : 0.25);
    WriteText(dir_ / "log.csv", g.text);
    SCOPED_TRACE("round " + std::to_string(round) + ", file:\n" + g.text.substr(0, 2000));
    if (g.valid > 0) {
      PrepareReport r = Prepare(RowsOptions("skip"), Out(), 1);
      EXPECT_EQ(r.skipped_rows, g.malformed);
      EXPECT_EQ(r.rows, g.valid) << "explicit labels: the kept rows are exactly the valid ones";
    }
    if (g.malformed == 0) continue;
    try {
      Prepare(RowsOptions("fail"), Out(), 1);
      ADD_FAILURE() << "a file with " << g.malformed << " malformed rows was accepted in fail mode";
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_EQ(e.code(), StatusCode::kDataError) << m;
      EXPECT_NE(m.find("log.csv:" + std::to_string(g.first_bad_line) + ":"), std::string::npos) << m;
      EXPECT_TRUE(PrintableMessage(m)) << m;
    }
  }
}

TEST_F(ParserFuzz, StructuredSequenceFilesAreParsedExactlyAsTheOracleSays) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 60; ++round) {
    Generated g = SequencesFile(rng, 3 + static_cast<int>(rng() % 40), round % 3 == 0 ? 0.0 : 0.2);
    WriteText(dir_ / "seq.txt", g.text);
    SCOPED_TRACE("round " + std::to_string(round) + ", file:\n" + g.text.substr(0, 2000));
    if (g.valid > 0) {
      PrepareReport r = Prepare(SeqOptions("skip"), Out(), 1);
      EXPECT_EQ(r.skipped_rows, g.malformed);
      EXPECT_EQ(r.positives, g.kept_items);
      EXPECT_EQ(r.users, g.valid);
    }
    if (g.malformed == 0) continue;
    try {
      Prepare(SeqOptions("fail"), Out(), 1);
      ADD_FAILURE() << "a file with " << g.malformed << " malformed lines was accepted in fail mode";
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_EQ(e.code(), StatusCode::kDataError) << m;
      EXPECT_NE(m.find("seq.txt:" + std::to_string(g.first_bad_line) + ":"), std::string::npos) << m;
    }
  }
}

// Runs prepare on a mutated file: success accounts for every line, failure is a recprism Error
// that names the file and prints no raw control bytes.
template <typename Count>
void ExpectAccounted(const DataOptions& o, const std::string& out, const std::string& text, const std::string& file,
                     Count kept_lines) {
  try {
    PrepareReport r = Prepare(o, out, 1);
    EXPECT_EQ(kept_lines(r) + r.skipped_rows, DataLines(text, o.generic.layout == "rows" ? 1 : 0))
        << "every line is kept or skipped";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_TRUE(e.code() == StatusCode::kDataError || e.code() == StatusCode::kInvalidConfig) << m;
    EXPECT_NE(m.find(file), std::string::npos) << m;
    EXPECT_TRUE(PrintableMessage(m)) << m;
  }
}

TEST_F(ParserFuzz, MutatedRowsFilesNeverCrashHangOrLoseALine) {
  std::mt19937_64 rng(99);
  for (int round = 0; round < 100; ++round) {
    const std::string text = Mutate(rng, RowsFile(rng, 20, 0.0).text);
    WriteText(dir_ / "log.csv", text);
    SCOPED_TRACE("round " + std::to_string(round));
    // Rows stay one per line with explicit labels (no negatives), so kept lines = rows.
    ExpectAccounted(RowsOptions("skip"), Out(), text, "log.csv", [](const PrepareReport& r) { return r.rows; });
    try {
      Prepare(RowsOptions("fail"), Out(), 1);
    } catch (const Error& e) {
      EXPECT_TRUE(PrintableMessage(e.what())) << e.what();
    }
  }
}

TEST_F(ParserFuzz, MutatedSequenceFilesNeverCrashHangOrLoseALine) {
  std::mt19937_64 rng(123);
  for (int round = 0; round < 100; ++round) {
    const std::string text = Mutate(rng, SequencesFile(rng, 15, 0.0).text);
    WriteText(dir_ / "seq.txt", text);
    SCOPED_TRACE("round " + std::to_string(round));
    ExpectAccounted(SeqOptions("skip"), Out(), text, "seq.txt", [](const PrepareReport& r) { return r.users; });
  }
}

TEST_F(ParserFuzz, MutatedAttributeFilesParseOrNameTheByte) {
  std::mt19937_64 rng(5);
  WriteText(dir_ / "seq.txt", "u1 a b c\nu2 b c d\n");
  const std::string valid = "{\"a\": [1, 2], \"b\": [\"x\", 3],\n \"c\": [], \"zz\": [4]}\n";
  int parsed = 0;
  for (int round = 0; round < 200; ++round) {
    const std::string text = round == 0 ? valid : Mutate(rng, valid);
    WriteText(dir_ / "attr.json", text);
    DataOptions o = SeqOptions("fail");
    o.generic.item_attributes = (dir_ / "attr.json").string();
    try {
      Prepare(o, Out(), 1);
      ++parsed;
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_EQ(e.code(), StatusCode::kDataError) << m;
      EXPECT_NE(m.find("attr.json: malformed JSON at byte "), std::string::npos) << "round " << round << ": " << m;
      EXPECT_TRUE(PrintableMessage(m)) << m;
    }
  }
  EXPECT_GE(parsed, 1) << "the unmutated file parses";
  EXPECT_LT(parsed, 200) << "mutations must break some files";
}

}  // namespace
}  // namespace recprism::data
