#include "config/loader.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "config/schema.h"
#include "core/check.h"
#include "core/hash.h"

namespace recprism::config {
namespace fs = std::filesystem;
namespace {

struct Entry {
  YAML::Node node;
  Origin origin;
};

// Collects every problem; thrown together at the end.
struct Problems {
  std::vector<std::string> lines;
  void Add(const Origin& o, const std::string& key, const std::string& what) {
    lines.push_back(fmt::format("{}: {}{}", o.ToString(), key.empty() ? "" : key + ": ", what));
  }
};

Origin OriginOf(const std::string& file, const YAML::Node& node) {
  const YAML::Mark m = node.Mark();
  return Origin{file, m.line >= 0 ? m.line + 1 : 0, m.column >= 0 ? m.column + 1 : 0};
}

std::string Found(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return "nothing (an empty value)";
    case YAML::NodeType::Scalar: return "'" + node.Scalar() + "'";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    default: return "an undefined value";
  }
}

bool IsSectionPrefix(const std::string& path) {
  for (const auto& spec : Schema()) {
    if (spec.key.size() > path.size() && spec.key.compare(0, path.size(), path) == 0 && spec.key[path.size()] == '.') {
      return true;
    }
  }
  return false;
}

std::string UnknownKeyMessage(const std::string& key) {
  std::string hint = SuggestKey(key);
  return hint.empty() ? "unknown key (see docs/config.md for the keys)"
                      : fmt::format("unknown key (did you mean '{}'?)", hint);
}

// Flattens a mapping into leaf entries keyed by dotted path; unknown paths are problems.
void Flatten(const YAML::Node& map, const std::string& prefix, const std::string& file,
             std::map<std::string, Entry>& out, Problems& problems) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    // Copies, not references: yaml-cpp's iterator hands out a temporary key/value pair.
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    const std::string name = key.Scalar();
    if (prefix.empty() && name == "defaults") continue;  // overlays, handled by LoadFile
    const std::string path = prefix.empty() ? name : prefix + "." + name;
    if (FindKey(path) != nullptr) {
      out[path] = Entry{value, OriginOf(file, value.IsNull() ? key : value)};
    } else if (IsSectionPrefix(path)) {
      if (value.IsMap()) {
        Flatten(value, path, file, out, problems);
      } else {
        problems.Add(OriginOf(file, value.IsNull() ? key : value), path,
                     fmt::format("expected a mapping (section '{}'), found {}", path, Found(value)));
      }
    } else {
      problems.Add(OriginOf(file, key), path, UnknownKeyMessage(path));
    }
  }
}

void LoadFile(const fs::path& path, const Origin* included_from, std::vector<std::string>& stack,
              std::vector<std::string>& files, std::map<std::string, Entry>& out, Problems& problems) {
  const std::string file = path.lexically_normal().string();
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    problems.lines.push_back(included_from != nullptr
                                 ? fmt::format("{}: defaults: config file '{}' does not exist",
                                               included_from->ToString(), file)
                                 : fmt::format("config file '{}' does not exist", file));
    return;
  }
  if (std::find(stack.begin(), stack.end(), file) != stack.end()) {
    problems.lines.push_back(fmt::format("{}: defaults: '{}' includes itself (cycle: {} -> {})",
                                         included_from ? included_from->ToString() : file, file,
                                         fmt::join(stack, " -> "), file));
    return;
  }
  YAML::Node root;
  try {
    root = YAML::LoadFile(file);
  } catch (const YAML::ParserException& e) {
    problems.lines.push_back(fmt::format("{}:{}:{}: YAML syntax error: {}", file, e.mark.line + 1,
                                         e.mark.column + 1, e.msg));
    return;
  } catch (const YAML::BadFile&) {
    problems.lines.push_back(fmt::format("config file '{}' cannot be read", file));
    return;
  }
  if (root.IsNull()) {
    files.push_back(file);
    return;
  }
  if (!root.IsMap()) {
    problems.Add(OriginOf(file, root), "", fmt::format("expected a mapping of sections at the top level, found {}",
                                                        Found(root)));
    return;
  }
  stack.push_back(file);
  if (const YAML::Node defaults = root["defaults"]) {
    const Origin here = OriginOf(file, defaults);
    if (!defaults.IsSequence()) {
      problems.Add(here, "defaults", fmt::format("expected a list of file paths, found {}", Found(defaults)));
    } else {
      for (const auto& item : defaults) {
        if (!item.IsScalar()) {
          problems.Add(OriginOf(file, item), "defaults", fmt::format("expected a file path, found {}", Found(item)));
          continue;
        }
        fs::path child = fs::path(item.Scalar());
        if (child.is_relative()) child = path.parent_path() / child;
        const Origin at = OriginOf(file, item);
        LoadFile(child, &at, stack, files, out, problems);
      }
    }
  }
  stack.pop_back();
  Flatten(root, "", file, out, problems);
  files.push_back(file);
}

bool ParseBool(const std::string& s, bool* out) {
  if (s == "true" || s == "True" || s == "TRUE") return *out = true, true;
  if (s == "false" || s == "False" || s == "FALSE") return *out = false, true;
  return false;
}

bool ParseInt(const std::string& s, int64_t* out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && !s.empty();
}

bool ParseDouble(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  *out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

// Converts a node to the key's kind; on failure returns false and sets `why`.
bool Convert(const KeySpec& spec, const YAML::Node& node, Value* out, std::string* why) {
  auto expected = [&](const std::string& what, const YAML::Node& n) {
    *why = fmt::format("expected {}, found {}", what, Found(n));
    return false;
  };
  switch (spec.kind) {
    case ValueKind::kBool: {
      bool b;
      if (!node.IsScalar() || !ParseBool(node.Scalar(), &b)) return expected("a boolean (true or false)", node);
      *out = b;
      return true;
    }
    case ValueKind::kInt: {
      int64_t i;
      if (!node.IsScalar() || !ParseInt(node.Scalar(), &i)) return expected("an integer", node);
      *out = i;
      return true;
    }
    case ValueKind::kDouble: {
      double d;
      if (!node.IsScalar() || !ParseDouble(node.Scalar(), &d)) return expected("a number", node);
      *out = d;
      return true;
    }
    case ValueKind::kString:
      if (!node.IsScalar()) return expected("a string", node);
      *out = node.Scalar();
      return true;
    case ValueKind::kIntList: {
      if (!node.IsSequence()) return expected("a list of integers such as [10, 20]", node);
      std::vector<int64_t> v;
      for (const auto& item : node) {
        int64_t i;
        if (!item.IsScalar() || !ParseInt(item.Scalar(), &i)) return expected("a list of integers; an element is", item);
        v.push_back(i);
      }
      *out = v;
      return true;
    }
    case ValueKind::kDoubleList: {
      if (!node.IsSequence()) return expected("a list of numbers such as [0.7, 0.15, 0.15]", node);
      std::vector<double> v;
      for (const auto& item : node) {
        double d;
        if (!item.IsScalar() || !ParseDouble(item.Scalar(), &d)) return expected("a list of numbers; an element is", item);
        v.push_back(d);
      }
      *out = v;
      return true;
    }
    case ValueKind::kStringList: {
      if (!node.IsSequence()) return expected("a list of strings", node);
      std::vector<std::string> v;
      for (const auto& item : node) {
        if (!item.IsScalar()) return expected("a list of strings; an element is", item);
        v.push_back(item.Scalar());
      }
      *out = v;
      return true;
    }
  }
  return false;
}

YAML::Node ToYaml(const Value& value) {
  struct Visitor {
    YAML::Node operator()(bool b) const { return YAML::Node(b); }
    YAML::Node operator()(int64_t i) const { return YAML::Node(i); }
    YAML::Node operator()(double d) const { return YAML::Node(FormatValue(d)); }
    YAML::Node operator()(const std::string& s) const { return YAML::Node(s); }
    YAML::Node operator()(const std::vector<int64_t>& v) const {
      YAML::Node n(YAML::NodeType::Sequence);
      for (auto x : v) n.push_back(x);
      n.SetStyle(YAML::EmitterStyle::Flow);
      return n;
    }
    YAML::Node operator()(const std::vector<double>& v) const {
      YAML::Node n(YAML::NodeType::Sequence);
      for (auto x : v) n.push_back(FormatValue(x));
      n.SetStyle(YAML::EmitterStyle::Flow);
      return n;
    }
    YAML::Node operator()(const std::vector<std::string>& v) const {
      YAML::Node n(YAML::NodeType::Sequence);
      for (const auto& x : v) n.push_back(x);
      n.SetStyle(YAML::EmitterStyle::Flow);
      return n;
    }
  };
  return std::visit(Visitor{}, value);
}

}  // namespace

std::string Origin::ToString() const {
  if (line == 0) return file;
  return fmt::format("{}:{}:{}", file, line, column);
}

LoadedConfig LoadConfig(const std::string& path, const std::vector<std::string>& overrides, bool check_required) {
  Problems problems;
  std::map<std::string, Entry> entries;
  LoadedConfig result;
  if (!path.empty()) {
    std::vector<std::string> stack;
    LoadFile(fs::path(path), nullptr, stack, result.files, entries, problems);
  }
  for (const std::string& item : overrides) {
    const Origin origin{"--set " + item, 0, 0};
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      problems.Add(origin, "", "expected --set key=value");
      continue;
    }
    const std::string key = item.substr(0, eq);
    if (FindKey(key) == nullptr) {
      problems.Add(origin, key, UnknownKeyMessage(key));
      continue;
    }
    YAML::Node node;
    try {
      node = YAML::Load(item.substr(eq + 1));
    } catch (const YAML::ParserException& e) {
      problems.Add(origin, key, fmt::format("value is not valid YAML: {}", e.msg));
      continue;
    }
    if (node.IsNull() && eq + 1 == item.size()) node = YAML::Node(std::string());
    entries[key] = Entry{node, origin};
  }

  for (const auto& [key, entry] : entries) {
    const KeySpec& spec = *FindKey(key);
    Value value;
    std::string why;
    if (!Convert(spec, entry.node, &value, &why)) {
      problems.Add(entry.origin, key, why + fmt::format(" ({})", KindName(spec.kind)));
      continue;
    }
    if (std::string bad = Validate(spec, value); !bad.empty()) {
      problems.Add(entry.origin, key, bad);
      continue;
    }
    spec.set(result.options, value);
    result.origins[key] = entry.origin;
  }
  for (const auto& spec : Schema()) {
    if (check_required && spec.required && entries.count(spec.key) == 0) {
      problems.lines.push_back(fmt::format("{}: {}: required key is missing: {} (set it in the file or with --set {}=...)",
                                           path.empty() ? "config" : path, spec.key, spec.doc, spec.key));
    }
  }
  if (problems.lines.empty()) {
    for (const auto& message : ValidateCrossKeys(result.options)) {
      problems.lines.push_back(fmt::format("{}: {}", path.empty() ? "config" : path, message));
    }
  }
  if (!problems.lines.empty()) {
    RP_THROW(StatusCode::kInvalidConfig, "invalid configuration ({} problem{}):\n  {}", problems.lines.size(),
             problems.lines.size() == 1 ? "" : "s", fmt::join(problems.lines, "\n  "));
  }
  result.hash = ConfigHash(result.options);
  return result;
}

std::string ConfigHash(const RunOptions& options) {
  std::string canonical;
  for (const auto& spec : Schema()) canonical += spec.key + "=" + FormatValue(spec.get(options)) + "\n";
  return Hex64(Fnv1a64(canonical));
}

std::string EmitEffectiveConfig(const LoadedConfig& config) {
  YAML::Node root(YAML::NodeType::Map);
  for (const auto& spec : Schema()) {
    // Nest every dotted component: data.generic.user -> data: {generic: {user: ...}}.
    std::vector<std::string> parts;
    size_t start = 0;
    for (size_t dot; (dot = spec.key.find('.', start)) != std::string::npos; start = dot + 1) {
      parts.push_back(spec.key.substr(start, dot - start));
    }
    YAML::Node node = root;
    for (const auto& p : parts) node.reset(node[p]);
    node[spec.key.substr(start)] = ToYaml(spec.get(config.options));
  }
  YAML::Emitter emitter;
  emitter << root;
  std::string header = fmt::format("# RecPrism effective config, hash {}\n", config.hash);
  if (!config.files.empty()) header += fmt::format("# from: {}\n", fmt::join(config.files, ", "));
  return header + emitter.c_str() + "\n";
}

std::string GenerateConfigDocs() {
  std::string out =
      "# Configuration reference\n\n"
      "<!-- Generated by `recprism config docs` from src/config/schema.cc. Do not edit by hand:\n"
      "     a test fails when this file and the schema disagree. Regenerate with\n"
      "     build/recprism config docs > docs/config.md -->\n\n"
      "A run is configured by one YAML file, optional overlays and command-line overrides:\n\n"
      "- `defaults: [base.yaml, ...]` at the top of a file applies those files first (paths relative to\n"
      "  the file, in list order, recursively); the file's own keys win over them.\n"
      "- `--set key=value` on the command line wins over every file; the value is YAML\n"
      "  (`--set train.lr=3e-4`, `--set eval.top_k=[5,10]`).\n"
      "- Unknown keys, wrong types, out-of-range values and missing required keys are errors that\n"
      "  name the file, line, column and key; nothing runs on an invalid config.\n"
      "- The effective config is written to `<run.output_dir>/<run.name>/config.yaml` with its hash.\n"
      "  `recprism config check FILE` validates a file; `recprism config show FILE` prints the\n"
      "  effective config.\n";
  const RunOptions defaults;
  std::string section;
  for (const auto& spec : Schema()) {
    std::string sec = spec.key.substr(0, spec.key.find('.'));
    if (sec != section) {
      section = sec;
      out += fmt::format("\n## `{}`\n\n| key | type | default | allowed | description |\n|---|---|---|---|---|\n", sec);
    }
    std::string allowed;
    if (!spec.choices.empty()) {
      allowed = fmt::format("{}", fmt::join(spec.choices, ", "));
    } else if (spec.min || spec.max) {
      auto num = [](double d) { return FormatValue(d); };
      allowed = fmt::format("[{}, {}]", spec.min ? num(*spec.min) : "-inf", spec.max ? num(*spec.max) : "inf");
      if (spec.kind == ValueKind::kIntList || spec.kind == ValueKind::kDoubleList) allowed = "each in " + allowed;
    }
    std::string def = spec.required ? "**required**" : "`" + FormatValue(spec.get(defaults)) + "`";
    out += fmt::format("| `{}` | {} | {} | {} | {} |\n", spec.key, KindName(spec.kind), def, allowed, spec.doc);
  }
  return out;
}

}  // namespace recprism::config
