// Moving prediction rows to their user's rank (internal to data/predictions.cc).
//
// Each rank parses its share of a predictions file (byte blocks, row blocks, every N-th block
// of records); the rows then go to the rank that owns their user (UserShard) with one all-to-all
// per round of at most a few hundred thousand rows, so no rank ever holds more than its own rows
// plus one round in flight. What a rank receives is kept in input order, so a world of N holds the
// same rows per user, in the same order, as one rank reading the whole input.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "comm/communicator.h"
#include "data/predictions.h"

namespace recprism::data {

// Rows under construction: PredictionRows plus the dictionaries that intern their slice values.
class RowsBuilder {
 public:
  RowsBuilder(bool has_conversion, bool has_value, bool has_category, size_t slices);
  // A builder with the same columns and no rows.
  RowsBuilder EmptyLike() const;
  PredictionRows& rows() { return rows_; }
  const PredictionRows& rows() const { return rows_; }
  uint32_t SliceCode(size_t s, std::string_view value);
  // Drops the rows and slice values, keeping the columns' capacity for the next round.
  void Clear();
  // Room for `rows` rows in every column (avoids regrowing and re-faulting large columns).
  void Reserve(size_t rows);
  PredictionRows Take() { return std::move(rows_); }

 private:
  uint32_t Intern(size_t s, std::string_view value);

  PredictionRows rows_;
  std::vector<std::unordered_map<std::string, uint32_t>> dicts_;
  std::vector<int64_t> last_;  // per slice column: the code returned last, or -1
};

class UserExchange {
 public:
  // kRoundMajor: each round's shares follow each other in rank order in the input (blocks dealt
  // round-robin): rows are decoded as they come. kKeyed: each round's rows carry a key (the index
  // of the file they come from, in a sharded input); what arrives is kept encoded and decoded at
  // the end in key order, arrival order within a key.
  enum class Order { kRoundMajor, kKeyed };
  UserExchange(Communicator& comm, const RowsBuilder& shape, Order order);
  // Sends every row of `chunk` to its user's rank. Collective: every rank calls it once per round.
  void Round(const PredictionRows& chunk, int64_t key = 0);
  // This rank's rows (file_rows and checksum are the caller's).
  PredictionRows Finish();
  // Room for about this many rows on this rank.
  void Reserve(size_t rows) { out_.Reserve(rows); }
  // Bytes this rank sent to and received from other ranks so far.
  int64_t bytes_sent() const { return bytes_sent_; }
  int64_t bytes_received() const { return bytes_received_; }

 private:
  void Decode(const uint8_t* data, size_t n);
  void AppendOwn(const PredictionRows& chunk);  // the rows of `chunk` whose user is this rank's

  Communicator& comm_;
  Order order_;
  RowsBuilder out_;
  std::map<int64_t, std::vector<uint8_t>> pending_;  // kKeyed: encoded rows by key
  std::vector<int> dest_;                            // per row of the round: its user's rank
  std::vector<uint8_t> send_, recv_;                 // reused from round to round
  int64_t bytes_sent_ = 0, bytes_received_ = 0;
};

}  // namespace recprism::data
