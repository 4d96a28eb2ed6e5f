#include "data/sources.h"

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>

#include "core/check.h"
#include "core/file_util.h"
#include "core/log.h"
#include "core/md5.h"

namespace recprism::data {
namespace fs = std::filesystem;

std::string MirrorDir(const DataOptions& options) {
  if (!options.data_dir.empty()) return ExpandUser(options.data_dir);
  const char* env = std::getenv("RECPRISM_DATA_DIR");
  return env != nullptr ? std::string(env) : std::string();
}

namespace {

std::string CacheDir(const DataOptions& options) { return ExpandUser(options.cache_dir) + "/downloads"; }

bool Exists(const std::string& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool FindIn(const std::string& dir, const KnownFile& f, std::string* path) {
  if (dir.empty()) return false;
  for (const std::string& candidate : {dir + "/" + f.dir + "/" + f.name, dir + "/" + f.dir + "/" + f.name + ".gz"}) {
    if (Exists(candidate)) {
      *path = candidate;
      return true;
    }
  }
  return false;
}

std::string FileMd5(const std::string& path) {
  std::FILE* in = std::fopen(path.c_str(), "rb");
  RP_REQUIRE(in != nullptr, StatusCode::kIoError, "cannot read '{}'", path);
  Md5 md5;
  std::vector<char> buf(1 << 16);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), in)) > 0) md5.Update(buf.data(), n);
  std::fclose(in);
  return md5.HexDigest();
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

bool FindLocal(const DataOptions& options, const KnownFile& file, std::string* path) {
  return FindIn(MirrorDir(options), file, path) || FindIn(CacheDir(options), file, path);
}

std::string ResolveFile(const DataOptions& options, const KnownFile& f) {
  std::string path;
  if (FindLocal(options, f, &path)) return path;
  const std::string mirror = MirrorDir(options);
  const std::string cache = CacheDir(options);
  std::string tried = fmt::format("looked in the mirror '{}' (data.data_dir or $RECPRISM_DATA_DIR) and the cache '{}'",
                                  mirror.empty() ? "(none set)" : mirror + "/" + f.dir, cache + "/" + f.dir);
  RP_REQUIRE(!f.url.empty(), StatusCode::kIoError,
             "{}/{} not found: {}; this dataset has no public per-file download, so place the file in the mirror",
             f.dir, f.name, tried);
  RP_REQUIRE(options.download, StatusCode::kIoError, "{}/{} not found: {}; data.download is false", f.dir, f.name, tried);

  const std::string target_dir = cache + "/" + f.dir;
  fs::create_directories(target_dir);
  const bool zip = f.url.size() > 4 && f.url.compare(f.url.size() - 4, 4, ".zip") == 0;
  const std::string fetched = target_dir + "/" + (zip ? fs::path(f.url).filename().string() : f.name);
  const std::string tmp = TempPathFor(fetched);
  RP_LOG_INFO("downloading {} to {}", f.url, fetched);
  int rc = std::system(fmt::format("curl -fsSL --retry 2 --connect-timeout 20 -o {} {}", Quote(tmp), Quote(f.url)).c_str());
  if (rc != 0) {
    std::error_code ec;
    fs::remove(tmp, ec);
    RP_THROW(StatusCode::kIoError, "{}/{} not found: {}; downloading {} failed (curl exit status {}); download it by "
             "hand into the mirror or cache",
             f.dir, f.name, tried, f.url, WEXITSTATUS(rc));
  }
  if (!f.archive_md5.empty()) {
    std::string got = FileMd5(tmp);
    if (got != f.archive_md5) {
      std::error_code ec;
      fs::remove(tmp, ec);
      RP_THROW(StatusCode::kDataError, "checksum mismatch for {} (downloaded from {}): md5 {} but the official release "
               "has {}; the download is corrupt or the release changed",
               fetched, f.url, got, f.archive_md5);
    }
  }
  CommitTempFile(tmp, fetched);
  if (!zip) return fetched;
  const std::string out = target_dir + "/" + f.name;
  const std::string out_tmp = TempPathFor(out);
  rc = std::system(fmt::format("unzip -p {} {} > {}", Quote(fetched), Quote(f.member), Quote(out_tmp)).c_str());
  RP_REQUIRE(rc == 0, StatusCode::kIoError, "cannot extract {} from {} (unzip exit status {})", f.member, fetched,
             WEXITSTATUS(rc));
  CommitTempFile(out_tmp, out);
  return out;
}

void VerifyChecksum(const KnownFile& f, const std::string& path, const std::string& md5) {
  if (f.content_md5.empty()) return;
  RP_REQUIRE(md5 == f.content_md5, StatusCode::kDataError,
             "checksum mismatch for '{}': the md5 of its content is {}, but the official {}/{} has {}; the file is "
             "corrupt or not the official release (replace it, or remove it so it is fetched again)",
             path, md5, f.dir, f.name, f.content_md5);
}

}  // namespace recprism::data
