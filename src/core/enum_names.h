// Options with a fixed set of values are enums in the options.h structs. Each enum's names (what
// YAML, checkpoints and logs say) are written once, in its EnumNames specialisation next to it:
//
//   enum class Heads { kEsmm, kMmoe, kSharedBottom };
//   template <> struct EnumNames<Heads> {
//     static constexpr std::pair<Heads, const char*> kTable[] = {{Heads::kEsmm, "esmm"}, ...};
//   };
//
// The config module parses a name once (config/schema.cc), and code compares enum values.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace recprism {

template <typename E>
struct EnumNames;  // specialised with `static constexpr std::pair<E, const char*> kTable[]`

// The name of a value ("?" for a value outside the table).
template <typename E>
const char* NameOf(E value) {
  for (const auto& [v, name] : EnumNames<E>::kTable) {
    if (v == value) return name;
  }
  return "?";
}

// The value named `name`; false when no value has that name.
template <typename E>
bool ParseEnum(std::string_view name, E* out) {
  for (const auto& [v, n] : EnumNames<E>::kTable) {
    if (name == n) {
      *out = v;
      return true;
    }
  }
  return false;
}

// The value named `name`, for names known to be valid (tests, tools); throws std::invalid_argument
// naming the value otherwise. User input goes through the config's validation instead.
template <typename E>
E EnumOf(std::string_view name) {
  E value{};
  if (!ParseEnum(name, &value)) throw std::invalid_argument("no enum value is named '" + std::string(name) + "'");
  return value;
}

// Every name, in table order (the config's allowed values).
template <typename E>
std::vector<std::string> NamesOf() {
  std::vector<std::string> out;
  for (const auto& entry : EnumNames<E>::kTable) out.emplace_back(entry.second);
  return out;
}

}  // namespace recprism
