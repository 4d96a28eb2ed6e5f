// Minimal command-line parsing shared by the subcommands. Flags: "--name value", "--name=value",
// boolean "--name". Unknown flags and missing values are usage errors (Error(kInvalidArgument)).
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

namespace recprism::cli {

struct ParsedArgs {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> values;  // flag -> values in order
  std::set<std::string> switches;                          // boolean flags seen
  bool help = false;

  bool Has(const std::string& flag) const { return switches.count(flag) > 0 || values.count(flag) > 0; }
  std::string Get(const std::string& flag, const std::string& fallback = "") const;
  std::vector<std::string> GetAll(const std::string& flag) const;
  long long GetInt(const std::string& flag, long long fallback) const;
};

// value_flags take a value; switch_flags do not. "--help"/"-h" are always accepted.
ParsedArgs ParseArgs(const std::vector<std::string>& args, const std::set<std::string>& value_flags,
                     const std::set<std::string>& switch_flags, const std::string& command);

}  // namespace recprism::cli
