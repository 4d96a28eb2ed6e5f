// Helpers shared by the data tests: prepare a preset from the mirror into a temporary file.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "data/options.h"
#include "data/prepare.h"

namespace recprism::testing {

inline std::string MirrorOrSkip() {
  const char* dir = std::getenv("RECPRISM_DATA_DIR");
  return dir != nullptr && std::filesystem::exists(std::string(dir) + "/ml-100k") ? std::string(dir) : std::string();
}

#define RP_REQUIRE_MIRROR()                                                                      \
  do {                                                                                           \
    if (::recprism::testing::MirrorOrSkip().empty())                                             \
      GTEST_SKIP() << "RECPRISM_DATA_DIR does not point at the dataset mirror (../shared/data)"; \
  } while (0)

inline std::filesystem::path TestTempDir(const std::string& tag) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("recprism_" + tag + "_" + std::to_string(::getpid()) + "_" + info->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline DataOptions MirrorOptions(const std::string& dataset) {
  DataOptions o;
  o.dataset = dataset;
  o.data_dir = MirrorOrSkip();
  o.cache_dir = (std::filesystem::temp_directory_path() / "recprism_test_cache").string();
  o.download = false;
  return o;
}

inline void WriteText(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

}  // namespace recprism::testing
