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
void Put(std::vector<uint8_t>* out, T v) {
  const size_t at = out->size();
  out->resize(at + sizeof(T));
  std::memcpy(out->data() + at, &v, sizeof(T));
}

template <typename T>
T Get(const uint8_t*& p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  p += sizeof(T);
  return v;
}

void EncodeRow(const PredictionRows& r, size_t i, std::vector<uint8_t>* out) {
  Put(out, r.user[i]);
  Put(out, r.item[i]);
  Put(out, r.click[i]);
  Put(out, r.p_ctr[i]);
  if (r.has_conversion) {
    Put(out, r.conversion[i]);
    Put(out, r.p_cvr[i]);
    Put(out, r.p_ctcvr[i]);
  }
  if (r.has_value) Put(out, r.value[i]);
  if (r.has_category) {
    const uint32_t b = r.category_offsets[i], e = r.category_offsets[i + 1];
    Put(out, e - b);
    for (uint32_t k = b; k < e; ++k) Put(out, r.categories[k]);
  }
  for (size_t s = 0; s < r.slice_codes.size(); ++s) {
    const std::string& v = r.slice_values[s][r.slice_codes[s][i]];
    Put(out, static_cast<uint32_t>(v.size()));
    out->insert(out->end(), v.begin(), v.end());
  }
}

}  // namespace

RowsBuilder::RowsBuilder(bool has_conversion, bool has_value, bool has_category, size_t slices) : dicts_(slices) {
  rows_.has_conversion = has_conversion;
  rows_.has_value = has_value;
  rows_.has_category = has_category;
  rows_.slice_codes.resize(slices);
  rows_.slice_values.resize(slices);
}

RowsBuilder RowsBuilder::EmptyLike() const {
  return RowsBuilder(rows_.has_conversion, rows_.has_value, rows_.has_category, rows_.slice_codes.size());
}

uint32_t RowsBuilder::SliceCode(size_t s, std::string_view value) {
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
  std::vector<std::vector<uint8_t>> by_rank(static_cast<size_t>(world));
  if (order_ == Order::kKeyed) {
    for (auto& b : by_rank) Put(&b, key);
  }
  for (size_t i = 0; i < chunk.size(); ++i) EncodeRow(chunk, i, &by_rank[UserShard(chunk.user[i], world)]);
  std::vector<size_t> counts(static_cast<size_t>(world));
  size_t total = 0;
  for (int d = 0; d < world; ++d) total += counts[d] = by_rank[d].size();
  std::vector<uint8_t> send;
  send.reserve(total);
  for (int d = 0; d < world; ++d) {
    send.insert(send.end(), by_rank[d].begin(), by_rank[d].end());
    if (d != comm_.Rank()) bytes_sent_ += static_cast<int64_t>(by_rank[d].size());
    by_rank[d] = {};
  }
  std::vector<size_t> got;
  const std::vector<uint8_t> recv = AllToAllV(comm_, send, counts, &got);
  size_t at = 0;
  for (int q = 0; q < world; ++q) {
    if (q != comm_.Rank()) bytes_received_ += static_cast<int64_t>(got[q]);
    const uint8_t* p = recv.data() + at;
    size_t n = got[q];
    at += got[q];
    if (order_ == Order::kRoundMajor) {
      Decode(p, n);
      continue;
    }
    int64_t k = q;
    if (order_ == Order::kKeyed) {
      RP_REQUIRE(n >= sizeof(int64_t), StatusCode::kInternal, "predictions exchange: rank {} sent no key", q);
      k = Get<int64_t>(p);
      n -= sizeof(int64_t);
    }
    auto& bytes = pending_[k];
    bytes.insert(bytes.end(), p, p + n);
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
