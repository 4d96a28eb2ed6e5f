// Finding a dataset's source files: the local mirror (data.data_dir or $RECPRISM_DATA_DIR),
// then the cache (data.cache_dir/downloads), then the official address (curl; checksum
// verified). Plain and .gz files are both accepted. Internal to the data module.
#pragma once

#include <string>
#include <vector>

#include "data/options.h"

namespace recprism::data {

struct KnownFile {
  std::string dir;           // dataset folder in the mirror, e.g. "ml-100k"
  std::string name;          // file name without .gz, e.g. "u.data"
  std::string content_md5;   // md5 of the decompressed official content ("" = unknown)
  std::string url;           // official address ("" = none); a .zip URL is unpacked
  std::string archive_md5;   // md5 of the downloaded file (the archive for a .zip)
  std::string member;        // path inside the archive
};

// The mirror directory in effect ("" when none is configured).
std::string MirrorDir(const DataOptions& options);

// True when the file exists in the mirror or cache (plain or .gz); sets *path.
bool FindLocal(const DataOptions& options, const KnownFile& file, std::string* path);

// Resolves a file: mirror, cache, then download. Throws Error(kIoError) naming every place tried.
std::string ResolveFile(const DataOptions& options, const KnownFile& file);

// Compares a file's content md5 with the known one; throws Error(kDataError) on a mismatch.
void VerifyChecksum(const KnownFile& file, const std::string& path, const std::string& md5);

}  // namespace recprism::data
