#include "cli/args.h"

#include <cstdlib>

#include "core/check.h"

namespace recprism::cli {

std::string ParsedArgs::Get(const std::string& flag, const std::string& fallback) const {
  auto it = values.find(flag);
  return it == values.end() || it->second.empty() ? fallback : it->second.back();
}

std::vector<std::string> ParsedArgs::GetAll(const std::string& flag) const {
  auto it = values.find(flag);
  return it == values.end() ? std::vector<std::string>{} : it->second;
}

long long ParsedArgs::GetInt(const std::string& flag, long long fallback) const {
  std::string v = Get(flag);
  if (v.empty()) return fallback;
  char* end = nullptr;
  long long n = std::strtoll(v.c_str(), &end, 10);
  RP_REQUIRE(end != v.c_str() && *end == '\0', StatusCode::kInvalidArgument, "{}: expected an integer, found '{}'",
             flag, v);
  return n;
}

ParsedArgs ParseArgs(const std::vector<std::string>& args, const std::set<std::string>& value_flags,
                     const std::set<std::string>& switch_flags, const std::string& command) {
  ParsedArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      out.help = true;
      continue;
    }
    if (a.rfind("--", 0) != 0 || a == "--") {
      out.positional.push_back(a);
      continue;
    }
    std::string name = a, value;
    bool inline_value = false;
    if (auto eq = a.find('='); eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      inline_value = true;
    }
    if (value_flags.count(name)) {
      if (!inline_value) {
        RP_REQUIRE(i + 1 < args.size(), StatusCode::kInvalidArgument, "{}: option {} needs a value", command, name);
        value = args[++i];
      }
      out.values[name].push_back(value);
    } else if (switch_flags.count(name) && !inline_value) {
      out.switches.insert(name);
    } else {
      RP_THROW(StatusCode::kInvalidArgument, "{}: unknown option '{}' (see {} --help)", command, name, command);
    }
  }
  return out;
}

}  // namespace recprism::cli
