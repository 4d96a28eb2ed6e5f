#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/check.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/md5.h"
#include "core/runtime_info.h"
#include "core/status.h"

namespace recprism {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path TempDir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("recprism_core_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(Status, OkAndErrorCarryCodeAndMessage) {
  EXPECT_TRUE(Status::Ok().ok());
  Status s(StatusCode::kDataError, "row 7: bad id");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.ToString(), "data error: row 7: bad id");
}

TEST(StatusOr, ValueOnErrorThrowsTheError) {
  StatusOr<int> good(5);
  EXPECT_EQ(good.value(), 5);
  StatusOr<int> bad(Status(StatusCode::kIoError, "missing file x"));
  EXPECT_FALSE(bad.ok());
  try {
    bad.value();
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::kIoError);
    EXPECT_STREQ(e.what(), "missing file x");
  }
}

TEST(ExitCodes, AreDistinctPerErrorFamilyAndDocumented) {
  EXPECT_EQ(ExitCodeFor(StatusCode::kOk), 0);
  EXPECT_EQ(ExitCodeFor(StatusCode::kInternal), 1);
  EXPECT_EQ(ExitCodeFor(StatusCode::kInvalidArgument), 2);
  EXPECT_EQ(ExitCodeFor(StatusCode::kInvalidConfig), 3);
  EXPECT_EQ(ExitCodeFor(StatusCode::kDataError), 4);
  EXPECT_EQ(ExitCodeFor(StatusCode::kIoError), 4);
  EXPECT_EQ(ExitCodeFor(StatusCode::kTimeout), 5);
  EXPECT_EQ(ExitCodeFor(StatusCode::kAborted), 5);
  EXPECT_EQ(ExitCodeFor(StatusCode::kUnavailable), 6);
}

TEST(Require, ThrowsFormattedErrorWithCode) {
  auto f = [](int n) { RP_REQUIRE(n > 0, StatusCode::kInvalidConfig, "train.epochs must be > 0, got {}", n); };
  EXPECT_NO_THROW(f(1));
  try {
    f(-3);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::kInvalidConfig);
    EXPECT_STREQ(e.what(), "train.epochs must be > 0, got -3");
  }
}

TEST(CheckDeathTest, FailedInvariantAbortsWithLocation) {
  EXPECT_DEATH({ RP_CHECK(1 + 1 == 3, "arithmetic broke: {}", 42); }, "internal check failed at .*core_test.cc.*arithmetic broke: 42");
}

TEST(Hash, Fnv1aMatchesPublishedVectors) {
  // Reference values from the FNV specification's test suite (64-bit FNV-1a).
  EXPECT_EQ(Fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(Fnv1a64("foobar"), 0x85944171f73967e8ULL);
  EXPECT_EQ(Hex64(0xabcULL), "0000000000000abc");
}

TEST(Md5, MatchesRfc1321TestSuite) {
  EXPECT_EQ(Md5Hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(Md5Hex("a"), "0cc175b9c0f1b6a831c399e269772661");
  EXPECT_EQ(Md5Hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(Md5Hex("message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
  EXPECT_EQ(Md5Hex("12345678901234567890123456789012345678901234567890123456789012345678901234567890"),
            "57edf4a22be3c955ac49da2e2107b67a");
  // Streaming in uneven pieces gives the same digest.
  Md5 m;
  std::string text = "1234567890123456789012345678901234567890123456789012345678901234567890123456789";
  m.Update(text.substr(0, 3));
  m.Update(text.substr(3, 61));
  m.Update(text.substr(64));
  m.Update("0");
  EXPECT_EQ(m.HexDigest(), "57edf4a22be3c955ac49da2e2107b67a");
}

TEST(WriteFileAtomic, ReplacesContentAndLeavesNoTemporary) {
  fs::path dir = TempDir("atomic");
  std::string path = (dir / "sub" / "out.txt").string();
  WriteFileAtomic(path, "first");
  WriteFileAtomic(path, "second");
  EXPECT_EQ(ReadAll(path), "second");
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) files += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 1);
}

TEST(WriteFileAtomic, UnwritableDirectoryNamesThePath) {
  try {
    WriteFileAtomic("/proc/recprism-no-such-dir/x.txt", "data");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::kIoError);
    EXPECT_NE(std::string(e.what()).find("/proc/recprism-no-such-dir"), std::string::npos) << e.what();
  }
}

TEST(Blas, ClassifiesDebianAlternativesPaths) {
  EXPECT_EQ(ClassifyBlasPath("/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3").name, "OpenBLAS");
  BlasInfo ref = ClassifyBlasPath("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0");
  EXPECT_TRUE(ref.is_reference);
  EXPECT_EQ(ref.name, "reference BLAS (netlib)");
  EXPECT_EQ(ClassifyBlasPath("/usr/lib/x86_64-linux-gnu/blis-pthread/libblas.so.3").name, "BLIS");
  EXPECT_EQ(ClassifyBlasPath("/opt/intel/mkl/lib/libmkl_rt.so").name, "MKL");
  EXPECT_EQ(ClassifyBlasPath("").name, "none loaded");
}

TEST(Threads, DefaultSplitsCoresAmongRanksOfTheNode) {
  EXPECT_EQ(ResolveThreadsPerRank(0, 16, 4), 4);
  EXPECT_EQ(ResolveThreadsPerRank(0, 2, 3), 1);
  EXPECT_EQ(ResolveThreadsPerRank(0, 8, 0), 8);
  EXPECT_EQ(ResolveThreadsPerRank(3, 16, 4), 3);
  EXPECT_GE(VisibleCores(), 1);
}

TEST(Log, EveryLineCarriesTheRankAndRankFilesGetAllLevels) {
  fs::path dir = TempDir("log");
  LogOptions opt;
  opt.level = "debug";
  log::Init(2, 3, opt);
  log::AddFile((dir / "logs" / "rank-2.log").string());
  RP_LOG_DEBUG("debug line {}", 1);
  RP_LOG_INFO("info line {}", 2);
  RP_LOG_WARN("warn line {}", 3);
  log::Flush();
  std::string text = ReadAll((dir / "logs" / "rank-2.log").string());
  std::istringstream lines(text);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    ++n;
    EXPECT_NE(line.find("[rank 2/3]"), std::string::npos) << line;
  }
  EXPECT_EQ(n, 3);
  EXPECT_NE(text.find("info line 2"), std::string::npos);
  EXPECT_THROW(log::ParseLevel("verbose"), Error);
}

}  // namespace
}  // namespace recprism
