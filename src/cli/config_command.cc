#include <iostream>

#include "cli/args.h"
#include "cli/commands.h"
#include "config/loader.h"
#include "core/check.h"
#include "core/log.h"

namespace recprism::cli {
namespace {

constexpr const char* kConfigHelp = R"(usage: recprism config <check|show|docs> [FILE] [--set key=value]...

  check FILE   validate FILE (with its defaults: overlays and --set overrides); prints the hash.
               Exit 0 when valid, 3 with every problem listed (file:line:column: key: what) when not.
  show FILE    print the effective config as YAML (every key, defaults included).
  docs         print the configuration reference (docs/config.md) generated from the schema.

options:
  --set key=value   override one key (repeatable); the value is YAML: --set eval.top_k=[5,10]
)";

}  // namespace

int RunConfigCommand(const std::vector<std::string>& args) {
  log::Init(0, 1, LogOptions{});  // a single-process command
  ParsedArgs a = ParseArgs(args, {"--set"}, {}, "recprism config");
  if (a.help || a.positional.empty()) {
    std::cout << kConfigHelp;
    return a.help ? 0 : 2;
  }
  const std::string& action = a.positional[0];
  if (action == "docs") {
    std::cout << config::GenerateConfigDocs();
    return 0;
  }
  RP_REQUIRE(action == "check" || action == "show", StatusCode::kInvalidArgument,
             "recprism config: unknown action '{}' (expected check, show or docs)", action);
  RP_REQUIRE(a.positional.size() == 2, StatusCode::kInvalidArgument, "recprism config {}: expected one FILE, got {}",
             action, a.positional.size() - 1);
  config::LoadedConfig loaded = config::LoadConfig(a.positional[1], a.GetAll("--set"));
  if (action == "check") {
    std::cout << "config OK: " << a.positional[1] << " (hash " << loaded.hash << ")\n";
  } else {
    std::cout << config::EmitEffectiveConfig(loaded);
  }
  return 0;
}

}  // namespace recprism::cli
