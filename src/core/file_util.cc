#include "core/file_util.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/check.h"

namespace recprism {

std::string TempPathFor(const std::string& path) { return fmt::format("{}.tmp.{}", path, ::getpid()); }

void CommitTempFile(const std::string& tmp, const std::string& path) {
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    RP_THROW(StatusCode::kIoError, "cannot move '{}' into place as '{}': {}", tmp, path, ec.message());
  }
}

void WriteFileAtomic(const std::string& path, std::string_view content) {
  std::error_code ec;
  std::filesystem::path p(path);
  if (p.has_parent_path()) {
    std::filesystem::create_directories(p.parent_path(), ec);
    RP_REQUIRE(!ec, StatusCode::kIoError, "cannot create directory '{}' for '{}': {}", p.parent_path().string(),
               path, ec.message());
  }
  const std::string tmp = TempPathFor(path);
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  RP_REQUIRE(f != nullptr, StatusCode::kIoError, "cannot write '{}': {}", tmp, std::strerror(errno));
  bool ok = std::fwrite(content.data(), 1, content.size(), f) == content.size();
  ok = (std::fflush(f) == 0) && ok;
  ok = (::fsync(::fileno(f)) == 0) && ok;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    int err = errno;
    std::filesystem::remove(tmp, ec);
    RP_THROW(StatusCode::kIoError, "writing '{}' failed: {}", path, std::strerror(err));
  }
  CommitTempFile(tmp, path);
}

std::string ExpandUser(const std::string& path) {
  if (path.size() >= 1 && path[0] == '~' && (path.size() == 1 || path[1] == '/')) {
    const char* home = std::getenv("HOME");
    if (home != nullptr) return std::string(home) + path.substr(1);
  }
  return path;
}

}  // namespace recprism
