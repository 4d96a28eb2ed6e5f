// Sharded predictions inputs: a directory or glob of CSV, CSV.gz or HDF5 files, shared by whole files.
#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <numeric>

#include "comm/collectives.h"
#include "core/check.h"
#include "core/log.h"
#include "core/md5.h"
#include "data/predictions_formats.h"

namespace recprism::data::detail {

bool IsShardedInput(const std::string& path) {
  return path.find_first_of("*?[") != std::string::npos || std::filesystem::is_directory(path);
}

namespace {

bool IsPredictionsFileName(const std::string& name) {
  std::string n = name;
  if (EndsWith(n, ".gz")) n.resize(n.size() - 3);
  return EndsWith(n, ".csv") || EndsWith(n, ".tsv") || EndsWith(n, ".txt") || IsHdf5Path(name);
}

// The files of a sharded input, sorted by path: a directory's predictions files (hidden files and
// other names skipped), or a glob pattern's matches.
std::vector<std::string> ListShards(const std::string& input) {
  std::vector<std::string> files;
  if (std::filesystem::is_directory(input)) {
    for (const auto& e : std::filesystem::directory_iterator(input)) {
      const std::string name = e.path().filename().string();
      if (e.is_regular_file() && name[0] != '.' && IsPredictionsFileName(name)) files.push_back(e.path().string());
    }
  } else {
    glob_t g{};
    const int rc = glob(input.c_str(), 0, nullptr, &g);
    for (size_t i = 0; rc == 0 && i < g.gl_pathc; ++i) {
      if (std::filesystem::is_regular_file(g.gl_pathv[i])) files.emplace_back(g.gl_pathv[i]);
    }
    globfree(&g);
  }
  std::sort(files.begin(), files.end());
  RP_REQUIRE(!files.empty(), StatusCode::kDataError,
             "{}: no predictions files found (a directory or glob of *.csv, *.tsv, *.txt, optionally .gz, or "
             "*.h5/*.hdf5 files)",
             input);
  return files;
}

// One file of a sharded input, read whole by one rank, a chunk at a time.
class ShardFile {
 public:
  ShardFile(const std::string& path, const PredictionColumns& cols) : path_(path) {
    if (IsHdf5Path(path)) {
      h5_ = std::make_unique<Hdf5Predictions>(path, cols);
      return;
    }
    in_ = std::make_unique<LineReader>(path);
    in_->HashBlocks(1, 0);
    fmt_ = ReadCsvHeader(*in_, path_, cols);
    parser_ = std::make_unique<CsvRowParser>(path_, cols, fmt_);
    slices_ = cols.slices.size();
  }
  RowsBuilder Builder() const { return h5_ ? h5_->Builder() : fmt_.Builder(slices_); }
  // Parses up to max_rows more rows; false when the file is done.
  bool Next(RowsBuilder* chunk, size_t max_rows) {
    if (h5_) {
      const int64_t e = std::min(h5_->rows(), next_row_ + static_cast<int64_t>(max_rows));
      h5_->Parse(next_row_, e, chunk);
      parsed_ += e - next_row_;
      next_row_ = e;
      return next_row_ < h5_->rows();
    }
    return ParseRecords(*in_, *parser_, fmt_.delim, max_rows, chunk, &parsed_);
  }
  int64_t parsed() const { return parsed_; }
  // After Next returned false.
  std::string Checksum() { return h5_ ? "n/a (HDF5)" : FileChecksum(in_->BlockDigests()); }

 private:
  std::string path_;
  std::unique_ptr<Hdf5Predictions> h5_;
  std::unique_ptr<LineReader> in_;
  CsvFormat fmt_;
  std::unique_ptr<CsvRowParser> parser_;
  size_t slices_ = 0;
  int64_t parsed_ = 0, next_row_ = 0;
};

std::string ColumnsOf(const PredictionRows& r) {
  return fmt::format("conversion {}, value {}, category {}", r.has_conversion ? "yes" : "no",
                     r.has_value ? "yes" : "no", r.has_category ? "yes" : "no");
}

}  // namespace

// Files go to ranks whole, largest first to the least-loaded rank; each rank parses its files in
// path order and the rows go to their user's rank keyed by file index, so every rank ends with its
// users' rows in (file, line) order at any world size. The checksum is the MD5 of one line per
// file, "name<TAB>checksum\n", in path order.
PredictionRows ReadSharded(const std::string& input, const PredictionColumns& cols, Communicator& comm) {
  const std::vector<std::string> files = ListShards(input);
  const int world = comm.WorldSize(), rank = comm.Rank();
  std::vector<size_t> order(files.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::vector<int64_t> sizes(files.size());
  for (size_t f = 0; f < files.size(); ++f) sizes[f] = FileSize(files[f]);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return sizes[a] > sizes[b]; });
  std::vector<int64_t> load(static_cast<size_t>(world), 0);
  std::vector<int> owner(files.size());
  for (size_t f : order) {
    const int r = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    owner[f] = r;
    load[r] += sizes[f];
  }
  const RowsBuilder shape = ShardFile(files[0], cols).Builder();
  UserExchange exchange(comm, shape, UserExchange::Order::kKeyed);
  RowsBuilder single = shape.EmptyLike();  // world 1: rows go straight here
  std::string sums;                        // "index<TAB>checksum\n" for this rank's files
  int64_t parsed = 0;
  size_t next = 0;
  std::unique_ptr<ShardFile> open;
  size_t current = 0;
  for (;;) {
    RowsBuilder chunk = shape.EmptyLike();
    while (!open && next < files.size()) {
      if (owner[next] == rank) {
        open = std::make_unique<ShardFile>(files[next], cols);
        const RowsBuilder mine = open->Builder();
        const PredictionRows& a = mine.rows();
        RP_REQUIRE(ColumnsOf(a) == ColumnsOf(shape.rows()), StatusCode::kDataError,
                   "{}: its columns differ from {}'s ({} against {}): the files of a sharded input must have the "
                   "same columns",
                   files[next], files[0], ColumnsOf(a), ColumnsOf(shape.rows()));
        current = next;
      }
      ++next;
    }
    if (open && !open->Next(world == 1 ? &single : &chunk, world == 1 ? SIZE_MAX : kRoundRows)) {
      sums += fmt::format("{}\t{}\n", current, open->Checksum());
      parsed += open->parsed();
      open.reset();
    }
    bool more = open != nullptr;
    for (size_t f = next; f < files.size() && !more; ++f) more = owner[f] == rank;
    if (world == 1) {
      if (!more) break;
      continue;
    }
    exchange.Round(chunk.rows(), static_cast<int64_t>(current));
    if (AllReduceScalar<int64_t>(comm, more ? 1 : 0, ReduceOp::kMax) == 0) break;
  }
  PredictionRows out = world == 1 ? single.Take() : exchange.Finish();
  out.file_rows = AllReduceScalar<int64_t>(comm, parsed, ReduceOp::kSum);
  RP_REQUIRE(out.file_rows > 0, StatusCode::kDataError, "{}: no rows in its {} files: nothing to evaluate", input,
             files.size());
  // Bounded by the number of files (about 50 bytes each), not by the rows.
  const std::vector<uint8_t> all = AllGatherV(comm, std::vector<uint8_t>(sums.begin(), sums.end()));
  std::vector<std::string> by_file(files.size());
  std::vector<std::string_view> lines, parts;
  const std::string text(all.begin(), all.end());
  SplitFields(text, '\n', &lines);
  for (auto line : lines) {
    SplitFields(line, '\t', &parts);
    if (parts.size() == 2) by_file[std::stoul(std::string(parts[0]))] = std::string(parts[1]);
  }
  std::string listing;
  for (size_t f = 0; f < files.size(); ++f) {
    listing += std::filesystem::path(files[f]).filename().string() + "\t" + by_file[f] + "\n";
  }
  out.checksum = Md5Hex(listing);
  RP_LOG_INFO("{}: {} files, {} rows; this rank parsed {} rows ({:.1f} MiB of files)", input, files.size(),
              out.file_rows, parsed, static_cast<double>(load[rank]) / (1 << 20));
  return out;
}

}  // namespace recprism::data::detail
