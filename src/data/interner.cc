#include "data/interner.h"

#include <cstring>

#include "core/hash.h"

namespace recprism::data {

uint64_t Interner::Hash(std::string_view key) {
  // 8 bytes at a time, each folded in with a multiply; SplitMix64's finalizer at the end.
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ key.size();
  size_t i = 0;
  for (; i + 8 <= key.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, key.data() + i, 8);
    h = (h ^ w) * 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 31;
  }
  uint64_t tail = 0;
  if (i < key.size()) std::memcpy(&tail, key.data() + i, key.size() - i);
  return Mix64(h ^ tail * 0x94D049BB133111EBULL ^ (tail >> 29));
}

bool Interner::Numeric(std::string_view key, uint64_t* value) {
  if (key.empty() || key.size() > 18 || (key[0] == '0' && key.size() > 1)) return false;
  uint64_t v = 0;
  for (char c : key) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *value = v;
  return true;
}

int64_t Interner::Probe(std::string_view key, uint64_t hash, bool numeric) const {
  const size_t mask = table_.size() - 1;
  for (size_t slot = hash & mask;; slot = (slot + 1) & mask) {
    const Slot& s = table_[slot];
    if (s.index < 0) return static_cast<int64_t>(slot);
    if (s.hash != hash) continue;
    const bool slot_numeric = (s.index & kNumericBit) != 0;
    if (numeric ? slot_numeric : (!slot_numeric && this->key(s.index) == key)) return static_cast<int64_t>(slot);
  }
}

void Interner::Grow() {
  std::vector<Slot> table(table_.empty() ? 1024 : table_.size() * 2, Slot{0, -1});
  const size_t mask = table.size() - 1;
  for (int64_t k = 0; k < size(); ++k) {
    size_t slot = hashes_[k] & mask;
    while (table[slot].index >= 0) slot = (slot + 1) & mask;
    uint64_t v;
    table[slot] = Slot{hashes_[k], Numeric(key(k), &v) ? k | kNumericBit : k};
  }
  table_.swap(table);
}

int64_t Interner::Intern(std::string_view key) {
  if (2 * (static_cast<size_t>(size()) + 1) > table_.size()) Grow();
  uint64_t v;
  const bool numeric = Numeric(key, &v);
  const uint64_t h = numeric ? Mix64(v) : Hash(key);
  Slot& s = table_[Probe(key, h, numeric)];
  if (s.index >= 0) return s.index & ~kNumericBit;
  const int64_t id = size();
  arena_.insert(arena_.end(), key.begin(), key.end());
  offsets_.push_back(static_cast<int64_t>(arena_.size()));
  hashes_.push_back(h);
  s = Slot{h, numeric ? id | kNumericBit : id};
  return id;
}

int64_t Interner::Find(std::string_view key) const {
  if (table_.empty()) return -1;
  uint64_t v;
  const bool numeric = Numeric(key, &v);
  const int64_t index = table_[Probe(key, numeric ? Mix64(v) : Hash(key), numeric)].index;
  return index < 0 ? -1 : index & ~kNumericBit;
}

size_t Interner::MemoryBytes() const {
  return arena_.capacity() + offsets_.capacity() * sizeof(int64_t) + hashes_.capacity() * sizeof(uint64_t) +
         table_.capacity() * sizeof(Slot);
}

}  // namespace recprism::data
