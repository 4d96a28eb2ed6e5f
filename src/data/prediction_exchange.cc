#include "data/prediction_exchange.h"

#include <cstring>

#include "comm/collectives.h"
#include "core/check.h"

namespace recprism::data {
namespace {

// Wire format of one row, in this order: user u64, item u64, click u8, p_ctr f64; with conversions
// conversion u8, p_cvr f64, p_ctcvr f64; with values value f64; with categories a u32 count and
// that many u64; per slice column a u32 length and the value's bytes.
template <typename T>
uint8_t* Put(uint8_t* out, T v) {
  std::memcpy(out, &v, sizeof(T));
  return out + sizeof(T);
}

template <typename T>
T Get(const uint8_t*& p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  p += sizeof(T);
  return v;
}

size_t RowBytes(const PredictionRows& r, size_t i) {
  size_t n = 8 + 8 + 1 + 8;
  if (r.has_conversion) n += 1 + 8 + 8;
  if (r.has_value) n += 8;
  if (r.has_category) n += 4 + 8 * (r.category_offsets[i + 1] - r.category_offsets[i]);
  for (size_t s = 0; s < r.slice_codes.size(); ++s) n += 4 + r.slice_values[s][r.slice_codes[s][i]].size();
  return n;
}

// Writes row i at `out` (RowBytes(r, i) bytes); returns the end.
uint8_t* EncodeRow(const PredictionRows& r, size_t i, uint8_t* out) {
  out = Put(out, r.user[i]);
  out = Put(out, r.item[i]);
  out = Put(out, r.click[i]);
  out = Put(out, r.p_ctr[i]);
  if (r.has_conversion) {
    out = Put(out, r.conversion[i]);
    out = Put(out, r.p_cvr[i]);
    out = Put(out, r.p_ctcvr[i]);
  }
  if (r.has_value) out = Put(out, r.value[i]);
  if (r.has_category) {
    const uint32_t b = r.category_offsets[i], e = r.category_offsets[i + 1];
    out = Put(out, e - b);
    if (e > b) std::memcpy(out, &r.categories[b], (e - b) * sizeof(uint64_t));
    out += (e - b) * sizeof(uint64_t);
  }
  for (size_t s = 0; s < r.slice_codes.size(); ++s) {
    const std::string& v = r.slice_values[s][r.slice_codes[s][i]];
    out = Put(out, static_cast<uint32_t>(v.size()));
    if (!v.empty()) std::memcpy(out, v.data(), v.size());
    out += v.size();
  }
  return out;
}

}  // namespace

RowsBuilder::RowsBuilder(bool has_conversion, bool has_value, bool has_category, size_t slices)
    : dicts_(slices), last_(slices, -1) {
  rows_.has_conversion = has_conversion;
  rows_.has_value = has_value;
  rows_.has_category = has_category;
  rows_.slice_codes.resize(slices);
  rows_.slice_values.resize(slices);
}

void RowsBuilder::Clear() {
  PredictionRows& r = rows_;
  r.user.clear();
  r.item.clear();
  r.click.clear();
  r.conversion.clear();
  r.p_ctr.clear();
  r.p_cvr.clear();
  r.p_ctcvr.clear();
  r.value.clear();
  r.category_offsets.assign(1, 0);
  r.categories.clear();
  for (auto& c : r.slice_codes) c.clear();
  for (auto& v : r.slice_values) v.clear();
  for (auto& d : dicts_) d.clear();
  last_.assign(last_.size(), -1);
}

void RowsBuilder::Reserve(size_t rows) {
  PredictionRows& r = rows_;
  r.user.reserve(rows);
  r.item.reserve(rows);
  r.click.reserve(rows);
  r.p_ctr.reserve(rows);
  if (r.has_conversion) {
    r.conversion.reserve(rows);
    r.p_cvr.reserve(rows);
    r.p_ctcvr.reserve(rows);
  }
  if (r.has_value) r.value.reserve(rows);
  if (r.has_category) r.category_offsets.reserve(rows + 1);
  for (auto& c : r.slice_codes) c.reserve(rows);
}

RowsBuilder RowsBuilder::EmptyLike() const {
  return RowsBuilder(rows_.has_conversion, rows_.has_value, rows_.has_category, rows_.slice_codes.size());
}

uint32_t RowsBuilder::SliceCode(size_t s, std::string_view value) {
  // Neighbouring rows often share a value (a user's rows, a region): check the last one first.
  if (last_[s] >= 0 && rows_.slice_values[s][last_[s]] == value) return static_cast<uint32_t>(last_[s]);
  const uint32_t code = Intern(s, value);
  last_[s] = code;
  return code;
}

uint32_t RowsBuilder::Intern(size_t s, std::string_view value) {
  auto& m = dicts_[s];
  auto it = m.find(std::string(value));
  if (it != m.end()) return it->second;
  const auto code = static_cast<uint32_t>(rows_.slice_values[s].size());
  rows_.slice_values[s].emplace_back(value);
  m.emplace(std::string(value), code);
  return code;
}

UserExchange::UserExchange(Communicator& comm, const RowsBuilder& shape, Order order)
    : comm_(comm), order_(order), out_(shape.EmptyLike()) {}

void UserExchange::Round(const PredictionRows& chunk, int64_t key) {
  const int world = comm_.WorldSize();
  const int me = comm_.Rank();
  const size_t head = order_ == Order::kKeyed ? sizeof(int64_t) : 0;
  // Round-major: this rank's own rows skip the wire and are copied in place (below).
  const bool keep_own = order_ == Order::kRoundMajor;
  std::vector<size_t> counts(static_cast<size_t>(world), head);
  dest_.resize(chunk.size());
  for (size_t i = 0; i < chunk.size(); ++i) {
    dest_[i] = UserShard(chunk.user[i], world);
    if (!keep_own || dest_[i] != me) counts[dest_[i]] += RowBytes(chunk, i);
  }
  std::vector<uint8_t*> at(static_cast<size_t>(world));
  size_t total = 0;
  for (int d = 0; d < world; ++d) total += counts[d];
  if (send_.size() < total) send_.resize(total);
  size_t offset = 0;
  for (int d = 0; d < world; ++d) {
    at[d] = send_.data() + offset;
    if (head > 0) at[d] = Put(at[d], key);
    offset += counts[d];
    if (d != comm_.Rank()) bytes_sent_ += static_cast<int64_t>(counts[d]);
  }
  for (size_t i = 0; i < chunk.size(); ++i) {
    if (!keep_own || dest_[i] != me) at[dest_[i]] = EncodeRow(chunk, i, at[dest_[i]]);
  }
  const std::vector<size_t> got = AllToAllCounts(comm_, counts);
  size_t received = 0;
  for (size_t c : got) received += c;
  if (recv_.size() < received) recv_.resize(received);
  comm_.AllToAllV(send_.data(), counts, recv_.data(), got, DType::kUInt8);
  size_t from = 0;
  for (int q = 0; q < world; ++q) {
    if (q != comm_.Rank()) bytes_received_ += static_cast<int64_t>(got[q]);
    const uint8_t* p = recv_.data() + from;
    size_t n = got[q];
    from += got[q];
    if (order_ == Order::kRoundMajor) {
      if (q == me) AppendOwn(chunk);
      Decode(p, n);
      continue;
    }
    RP_REQUIRE(n >= sizeof(int64_t), StatusCode::kInternal, "predictions exchange: rank {} sent no key", q);
    const auto k = Get<int64_t>(p);
    auto& bytes = pending_[k];
    bytes.insert(bytes.end(), p, p + n - sizeof(int64_t));
  }
}

void UserExchange::AppendOwn(const PredictionRows& chunk) {
  PredictionRows& r = out_.rows();
  const int me = comm_.Rank();
  // Slice codes: the chunk's dictionary mapped to the output's once per value.
  std::vector<std::vector<int64_t>> remap(chunk.slice_codes.size());
  for (size_t s = 0; s < remap.size(); ++s) remap[s].assign(chunk.slice_values[s].size(), -1);
  for (size_t i = 0; i < chunk.size(); ++i) {
    if (dest_[i] != me) continue;
    r.user.push_back(chunk.user[i]);
    r.item.push_back(chunk.item[i]);
    r.click.push_back(chunk.click[i]);
    r.p_ctr.push_back(chunk.p_ctr[i]);
    if (r.has_conversion) {
      r.conversion.push_back(chunk.conversion[i]);
      r.p_cvr.push_back(chunk.p_cvr[i]);
      r.p_ctcvr.push_back(chunk.p_ctcvr[i]);
    }
    if (r.has_value) r.value.push_back(chunk.value[i]);
    if (r.has_category) {
      r.categories.insert(r.categories.end(), chunk.categories.begin() + chunk.category_offsets[i],
                          chunk.categories.begin() + chunk.category_offsets[i + 1]);
      r.category_offsets.push_back(static_cast<uint32_t>(r.categories.size()));
    }
    for (size_t s = 0; s < remap.size(); ++s) {
      const uint32_t c = chunk.slice_codes[s][i];
      if (remap[s][c] < 0) remap[s][c] = out_.SliceCode(s, chunk.slice_values[s][c]);
      r.slice_codes[s].push_back(static_cast<uint32_t>(remap[s][c]));
    }
  }
}

void UserExchange::Decode(const uint8_t* p, size_t n) {
  const uint8_t* end = p + n;
  PredictionRows& r = out_.rows();
  std::string text;
  while (p < end) {
    r.user.push_back(Get<uint64_t>(p));
    r.item.push_back(Get<uint64_t>(p));
    r.click.push_back(Get<uint8_t>(p));
    r.p_ctr.push_back(Get<double>(p));
    if (r.has_conversion) {
      r.conversion.push_back(Get<uint8_t>(p));
      r.p_cvr.push_back(Get<double>(p));
      r.p_ctcvr.push_back(Get<double>(p));
    }
    if (r.has_value) r.value.push_back(Get<double>(p));
    if (r.has_category) {
      const auto k = Get<uint32_t>(p);
      for (uint32_t j = 0; j < k; ++j) r.categories.push_back(Get<uint64_t>(p));
      r.category_offsets.push_back(static_cast<uint32_t>(r.categories.size()));
    }
    for (size_t s = 0; s < r.slice_codes.size(); ++s) {
      const auto len = Get<uint32_t>(p);
      text.assign(reinterpret_cast<const char*>(p), len);
      p += len;
      r.slice_codes[s].push_back(out_.SliceCode(s, text));
    }
  }
  RP_REQUIRE(p == end, StatusCode::kInternal, "predictions exchange: a received row runs {} bytes past its buffer",
             p - end);
}

PredictionRows UserExchange::Finish() {
  for (auto& [key, bytes] : pending_) {
    Decode(bytes.data(), bytes.size());
    bytes = {};
  }
  return out_.Take();
}

}  // namespace recprism::data
