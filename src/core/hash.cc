#include "core/hash.h"

#include <fmt/format.h>

namespace recprism {

uint64_t Fnv1a64(std::string_view bytes, uint64_t seed) {
  uint64_t h = seed;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string Hex64(uint64_t value) { return fmt::format("{:016x}", value); }

}  // namespace recprism
