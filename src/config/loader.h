// Loading a run's configuration: base files, `defaults:` overlays, --set overrides.
//
// Precedence, lowest first: the options structs' defaults; each file named in a file's
// top-level `defaults:` list (paths relative to that file, applied in list order, recursively);
// the file's own keys; then command-line overrides `--set key=value` (value parsed as YAML, so
// `--set eval.top_k=[5,10]` works). Every problem found is reported, not just the first:
// LoadConfig throws Error(kInvalidConfig) whose message has one line per problem, each naming
// the file, line and column, the key path, what was expected and what was found.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/run_options.h"

namespace recprism::config {

// Where a key's value came from.
struct Origin {
  std::string file;  // config file path, or "--set"
  int line = 0;      // 1-based; 0 for --set
  int column = 0;    // 1-based; 0 for --set
  std::string ToString() const;
};

struct LoadedConfig {
  RunOptions options;
  std::map<std::string, Origin> origins;  // keys set explicitly (absent = struct default)
  std::vector<std::string> files;         // files read, in application order
  std::string hash;                       // ConfigHash(options)
};

// `path` may be empty (defaults + overrides only). check_required: report keys marked
// required in the schema that no file or override sets (commands that need every section);
// tools that need only part of the config (comm check, info) pass false.
LoadedConfig LoadConfig(const std::string& path, const std::vector<std::string>& overrides,
                        bool check_required = true);

// 16 hex digits identifying the effective config (every key's value, in schema order).
std::string ConfigHash(const RunOptions& options);

// The effective config as YAML (sections in schema order), headed by a comment with the hash.
// Loading it back yields the same hash.
std::string EmitEffectiveConfig(const LoadedConfig& config);

// docs/config.md: every key with type, default, allowed values and doc.
std::string GenerateConfigDocs();

}  // namespace recprism::config
