// Maps source id strings to dense indices in first-seen order. Keys live once, in one byte arena,
// and the index is an open-addressing table of key indices, so an id costs its length plus about
// 32 bytes: a log's users and items, not its rows, set the memory of preparation.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace recprism::data {

class Interner {
 public:
  Interner() = default;
  // Index of `key`, added when new.
  int64_t Intern(std::string_view key);
  // -1 when absent.
  int64_t Find(std::string_view key) const;
  std::string_view key(int64_t index) const {
    return {arena_.data() + offsets_[index], static_cast<size_t>(offsets_[index + 1] - offsets_[index])};
  }
  int64_t size() const { return static_cast<int64_t>(offsets_.size()) - 1; }
  // Bytes held (arena, offsets, hashes, table).
  size_t MemoryBytes() const;

 private:
  // A canonical decimal id ("0", or digits without a leading zero, below 10^18) is keyed by its
  // value: its hash is SplitMix64's finalizer of the value, a bijection, so equal hashes of two
  // such keys mean equal keys and the lookup never reads the arena.
  static bool Numeric(std::string_view key, uint64_t* value);
  static uint64_t Hash(std::string_view key);
  int64_t Probe(std::string_view key, uint64_t hash, bool numeric) const;  // slot holding key, or the empty slot
  void Grow();

  std::vector<char> arena_;
  std::vector<int64_t> offsets_ = {0};
  struct Slot {
    uint64_t hash;
    int64_t index;  // -1 = empty; kNumericBit marks a numeric key
  };
  static constexpr int64_t kNumericBit = int64_t{1} << 62;
  std::vector<uint64_t> hashes_;  // per key
  std::vector<Slot> table_;       // a power of two, at most half full; the hash inline saves a miss
};

}  // namespace recprism::data
