// Small non-cryptographic hashing for identities (config hash, seeds). Stable across runs,
// platforms and builds: the value may be written to disk and compared later.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace recprism {

// 64-bit FNV-1a of the bytes.
uint64_t Fnv1a64(std::string_view bytes, uint64_t seed = 0xcbf29ce484222325ULL);
// SplitMix64's finalizer: every input bit affects every output bit. Use it before reducing a
// hash modulo a small number (FNV-1a's low bits alone interleave poorly).
uint64_t Mix64(uint64_t x);
// 16 lowercase hex digits.
std::string Hex64(uint64_t value);

}  // namespace recprism
