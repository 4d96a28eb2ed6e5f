// The one schema table: every config key, its type, default, validator and one-line doc.
//
// Defaults are not repeated here: they are read from the in-class initialisers of the options
// structs (a default-constructed RunOptions), so docs/config.md, `config show` and the code
// cannot disagree.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/run_options.h"

namespace recprism::config {

enum class ValueKind { kBool, kInt, kDouble, kString, kIntList, kDoubleList, kStringList };
using Value = std::variant<bool, int64_t, double, std::string, std::vector<int64_t>, std::vector<double>,
                           std::vector<std::string>>;

struct KeySpec {
  std::string key;  // dotted path, e.g. "train.lr"
  ValueKind kind;
  std::string doc;
  bool required = false;             // must be set by a file or --set (no usable default)
  std::vector<std::string> choices;  // kString: allowed values (empty = any)
  std::optional<double> min, max;    // numbers and list elements: inclusive bounds
  // Extra validation of the whole value (e.g. ratios summing to 1): "" when valid.
  std::function<std::string(const Value&)> check;
  std::function<Value(const RunOptions&)> get;
  std::function<void(RunOptions&, const Value&)> set;
};

// All keys, grouped by section, in documentation order.
const std::vector<KeySpec>& Schema();
// nullptr when the key does not exist.
const KeySpec* FindKey(std::string_view key);
// The closest existing key by edit distance, or "" when none is close.
std::string SuggestKey(std::string_view unknown);

std::string_view KindName(ValueKind kind);
// Value as YAML flow text: 3e-4 -> 0.0003, strings quoted when needed, lists as [a, b].
std::string FormatValue(const Value& value);
// "" when the value satisfies the spec's bounds and choices, else a description of the violation.
std::string Validate(const KeySpec& spec, const Value& value);

// Cross-key rules (e.g. model.num_heads divides model.d_model): messages naming both keys.
std::vector<std::string> ValidateCrossKeys(const RunOptions& options);

}  // namespace recprism::config
