// Prediction files: scores from any model, read for the evaluator (docs/report-format.md).
//
// CSV or TSV (plain or .gz) with a header naming the columns, or HDF5 with one dataset per column.
// Columns (names configurable through PredictionColumns):
//   user, item          ids (any text in CSV; integers in HDF5)
//   click               0/1 label, required
//   p_ctr               predicted click probability in [0, 1], required
//   conversion          0/1 label, optional; 1 requires click = 1 (ESMM: impression -> click -> conversion)
//   p_cvr               predicted conversion probability given a click, required with conversion
//                       unless p_ctcvr is given
//   p_ctcvr             predicted click-and-convert probability; default p_ctr * p_cvr
//   value               revenue of a conversion (>= 0), optional
//   category            item categories ('|'-separated), optional (intra-list diversity)
//   any other column    usable as a slice (PredictionColumns::slices)
// Fields are separated by the delimiter, quoted as RFC 4180 where needed. Rows are sharded by user:
// rank r keeps the rows whose user hashes to r (Mix64(FNV-1a(user)) mod world), in file order, so a
// world of N gives the same rows per user as one rank. Every problem is an Error(kDataError) naming
// file:line (HDF5: file:/dataset[row]) and the column, found against expected.
//
// Reading is shared, so per-rank time and memory fall with the world size:
// - plain CSV/TSV: the data after the header is cut into byte blocks of at most 16 MiB (fewer,
//   larger ones for a small file: one per rank), dealt round-robin; a block owns the lines that
//   start in it. Line numbers stay exact (the ranks count their blocks' lines first). A file whose
//   quotes would put a block start inside a quoted field is read as a stream, like gzip;
// - gzip: a stream cannot be entered mid-way: every rank decompresses all of it (cheap against
//   parsing) and parses every N-th block of 65,536 records;
// - HDF5: row blocks of 262,144 rows dealt round-robin, read as hyperslabs;
// - a sharded input (a directory of such files, or a glob pattern in quotes): whole files go to
//   ranks, largest first to the least-loaded rank, and the rows keep their (file, line) order. This
//   is the scalable form for gzip.
// The rows then go to their user's rank by all-to-all, one round per block, and arrive in file
// order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "comm/communicator.h"

namespace recprism::data {

struct PredictionColumns {
  std::string user = "user";
  std::string item = "item";
  std::string click = "click";
  std::string conversion = "conversion";
  std::string p_ctr = "p_ctr";
  std::string p_cvr = "p_cvr";
  std::string p_ctcvr = "p_ctcvr";
  std::string value = "value";
  std::string category = "category";
  std::vector<std::string> slices;  // extra columns to slice every metric by
};

// One rank's rows, in file order. Keys are 64-bit hashes of the id text (FNV-1a); the report
// never needs the text back.
struct PredictionRows {
  std::vector<uint64_t> user, item;
  std::vector<uint8_t> click, conversion;
  std::vector<double> p_ctr, p_cvr, p_ctcvr, value;
  // Categories of row i: categories[category_offsets[i] .. category_offsets[i + 1]), sorted, unique.
  std::vector<uint32_t> category_offsets{0};
  std::vector<uint64_t> categories;
  // Slice s of row i is slice_values[s][slice_codes[s][i]].
  std::vector<std::vector<uint32_t>> slice_codes;
  std::vector<std::vector<std::string>> slice_values;

  bool has_conversion = false, has_value = false, has_category = false;
  int64_t file_rows = 0;  // rows in the whole file (every rank)
  // CSV: FileChecksum of the decompressed content (the MD5 of its 16 MiB blocks' MD5s), the same
  // at every world size; empty for HDF5. A sharded input: the MD5 of "name<TAB>checksum\n" per file.
  std::string checksum;
  size_t size() const { return user.size(); }
};

// The rank a user's rows belong to.
int UserShard(uint64_t user_key, int world);
uint64_t IdKey(std::string_view id);

// Reads `path` (.csv, .tsv, .txt, optionally .gz; .h5/.hdf5; a directory or glob of them) and
// returns this rank's rows.
// Collective: every rank of `comm` calls it with the same arguments.
PredictionRows ReadPredictions(const std::string& path, const PredictionColumns& columns, Communicator& comm);

}  // namespace recprism::data
