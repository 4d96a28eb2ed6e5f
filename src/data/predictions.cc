#include "data/predictions.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

#include <glob.h>
#include <map>
#include <unordered_map>

#include "core/check.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/md5.h"
#include "comm/collectives.h"
#include "data/hdf5_util.h"
#include "data/prediction_exchange.h"
#include "data/text_input.h"

namespace recprism::data {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool IsHdf5Path(const std::string& path) { return EndsWith(path, ".h5") || EndsWith(path, ".hdf5"); }

// Row-level validation shared by the CSV and HDF5 readers. `where` and `text` are callables that
// build the row's location ("file:line") and the field's text only when a check fails.
struct RowChecker {
  const PredictionColumns& cols;

  template <typename Where, typename Text>
  uint8_t Label(double v, const std::string& column, Where where, Text text) const {
    RP_REQUIRE(v == 0.0 || v == 1.0, StatusCode::kDataError, "{}: column '{}': expected a 0/1 label, found '{}'",
               where(), column, text());
    return static_cast<uint8_t>(v);
  }
  template <typename Where, typename Text>
  double Probability(double v, const std::string& column, Where where, Text text) const {
    RP_REQUIRE(std::isfinite(v), StatusCode::kDataError,
               "{}: column '{}': expected a probability in [0, 1], found '{}' (not a finite number)", where(), column,
               text());
    RP_REQUIRE(v >= 0.0 && v <= 1.0, StatusCode::kDataError,
               "{}: column '{}': expected a probability in [0, 1], found {}", where(), column, text());
    return v;
  }
  template <typename Where, typename Text>
  double Value(double v, const std::string& column, Where where, Text text) const {
    RP_REQUIRE(std::isfinite(v) && v >= 0.0, StatusCode::kDataError,
               "{}: column '{}': expected a revenue value >= 0, found '{}'", where(), column, text());
    return v;
  }
  template <typename Where>
  void Chain(uint8_t click, uint8_t conversion, Where where) const {
    RP_REQUIRE(click || !conversion, StatusCode::kDataError,
               "{}: columns '{}' and '{}': a conversion needs a click (impression -> click -> conversion), found "
               "{}=0 and {}=1",
               where(), cols.click, cols.conversion, cols.click, cols.conversion);
  }
};

// Appends a row's conversion scores. A score not given is negative: p_ctcvr defaults to
// p_ctr * p_cvr (ESMM), p_cvr to p_ctcvr / p_ctr (capped at 1; 0 when p_ctr is 0).
void AddConversionScores(double p_ctr, double p_cvr, double p_ctcvr, PredictionRows* out) {
  if (p_ctcvr < 0) p_ctcvr = p_ctr * p_cvr;
  if (p_cvr < 0) p_cvr = p_ctr > 0 ? std::min(1.0, p_ctcvr / p_ctr) : 0.0;
  out->p_cvr.push_back(p_cvr);
  out->p_ctcvr.push_back(p_ctcvr);
}

struct Layout {
  int user = -1, item = -1, click = -1, conversion = -1, p_ctr = -1, p_cvr = -1, p_ctcvr = -1, value = -1,
      category = -1;
  std::vector<int> slices;
};

void AddCategories(std::string_view text, PredictionRows* out) {
  std::vector<uint64_t> cats;
  std::vector<std::string_view> parts;
  SplitFields(text, '|', &parts);
  for (auto p : parts) {
    if (!p.empty()) cats.push_back(IdKey(p));
  }
  std::sort(cats.begin(), cats.end());
  cats.erase(std::unique(cats.begin(), cats.end()), cats.end());
  out->categories.insert(out->categories.end(), cats.begin(), cats.end());
  out->category_offsets.push_back(static_cast<uint32_t>(out->categories.size()));
}

// Rows a rank parses between two exchanges, and records per block when blocks are dealt.
constexpr size_t kRoundRows = size_t{1} << 18;
constexpr int64_t kDealtRecords = int64_t{1} << 16;
constexpr int64_t kByteBlock = int64_t{16} << 20;

// ---- CSV / TSV ----

struct CsvFormat {
  char delim = ',';
  size_t width = 0;
  Layout lay;
  int64_t header_end = 0;    // byte offset just past the header line
  int64_t header_lines = 0;  // lines the header took
  RowsBuilder Builder(size_t slices) const {
    return RowsBuilder(lay.conversion >= 0, lay.value >= 0, lay.category >= 0, slices);
  }
};

// Reads the header line from `in` and maps the columns.
CsvFormat ReadCsvHeader(LineReader& in, const std::string& path, const PredictionColumns& cols) {
  std::string line;
  RP_REQUIRE(in.Next(&line), StatusCode::kDataError,
             "{}: the predictions file is empty: expected a header line naming the columns ({}, {}, {}, {}, ...)",
             path, cols.user, cols.item, cols.click, cols.p_ctr);
  CsvFormat fmt;
  fmt.delim = line.find('\t') != std::string::npos && line.find(',') == std::string::npos ? '\t' : ',';
  fmt.header_end = in.offset();
  fmt.header_lines = in.line_number();
  std::vector<std::string_view> f;
  CsvSplitter splitter;
  const auto header_shape = splitter.Split(line, fmt.delim, &f);
  RP_REQUIRE(header_shape == CsvSplitter::Result::kOk, StatusCode::kDataError, "{}:1: the header line is malformed: {}: '{}'",
             path, CsvSplitter::Explain(header_shape), Excerpt(line));
  std::vector<std::string> header(f.begin(), f.end());
  for (auto& h : header) {
    while (!h.empty() && h.back() == ' ') h.pop_back();
    while (!h.empty() && h.front() == ' ') h.erase(0, 1);
  }
  auto find = [&](const std::string& name) {
    auto it = std::find(header.begin(), header.end(), name);
    return it == header.end() ? -1 : static_cast<int>(it - header.begin());
  };
  std::string names;
  for (const auto& h : header) names += (names.empty() ? "" : ", ") + h;
  auto require = [&](const std::string& name, const char* role) {
    const int i = find(name);
    RP_REQUIRE(i >= 0, StatusCode::kDataError,
               "{}:1: missing column '{}' ({}); the header has: {} (map other names with eval.columns.*)", path, name,
               role, names);
    return i;
  };
  Layout& lay = fmt.lay;
  lay.user = require(cols.user, "user id");
  lay.item = require(cols.item, "item id");
  lay.click = require(cols.click, "0/1 click label");
  lay.p_ctr = require(cols.p_ctr, "predicted click probability");
  lay.conversion = find(cols.conversion);
  lay.p_cvr = find(cols.p_cvr);
  lay.p_ctcvr = find(cols.p_ctcvr);
  lay.value = find(cols.value);
  lay.category = find(cols.category);
  if (lay.conversion >= 0) {
    RP_REQUIRE(lay.p_cvr >= 0 || lay.p_ctcvr >= 0, StatusCode::kDataError,
               "{}:1: column '{}' is present but neither '{}' nor '{}' is: a conversion label needs a predicted "
               "conversion probability; the header has: {}",
               path, cols.conversion, cols.p_cvr, cols.p_ctcvr, names);
  }
  for (const auto& s : cols.slices) lay.slices.push_back(require(s, "slice column (eval.slices)"));
  fmt.width = header.size();
  return fmt;
}

// Parses and checks one record (any user's) into a builder; errors name file:line and the column.
class CsvRowParser {
 public:
  CsvRowParser(const std::string& path, const PredictionColumns& cols, const CsvFormat& fmt)
      : path_(path), cols_(cols), fmt_(fmt), check_{cols} {}

  void Parse(const std::string& line, int64_t line_number, RowsBuilder* builder) {
    PredictionRows& out = builder->rows();
    const Layout& lay = fmt_.lay;
    const PredictionColumns& cols = cols_;
    auto where = [&] { return fmt::format("{}:{}", path_, line_number); };
    const auto shape = splitter_.Split(line, fmt_.delim, &f_);
    RP_REQUIRE(shape == CsvSplitter::Result::kOk, StatusCode::kDataError, "{}: {}: '{}'", where(),
               CsvSplitter::Explain(shape), Excerpt(line));
    RP_REQUIRE(f_.size() == fmt_.width, StatusCode::kDataError, "{}: expected {} fields (as the header), found {}: '{}'",
               where(), fmt_.width, f_.size(), Excerpt(line));
    auto num = [&](int col, const std::string& name, const char* what) {
      double v = 0;
      RP_REQUIRE(ParseFloat(f_[col], &v), StatusCode::kDataError, "{}: column '{}': expected {}, found '{}'", where(),
                 name, what, Excerpt(f_[col], 40));
      return v;
    };
    auto text = [&](int col) { return [this, col] { return Excerpt(f_[col], 40); }; };
    RP_REQUIRE(!f_[lay.user].empty(), StatusCode::kDataError, "{}: column '{}': empty user id", where(), cols.user);
    RP_REQUIRE(!f_[lay.item].empty(), StatusCode::kDataError, "{}: column '{}': empty item id", where(), cols.item);
    const uint8_t click = check_.Label(num(lay.click, cols.click, "a 0/1 label"), cols.click, where, text(lay.click));
    const double p_ctr =
        check_.Probability(num(lay.p_ctr, cols.p_ctr, "a probability"), cols.p_ctr, where, text(lay.p_ctr));
    out.user.push_back(IdKey(f_[lay.user]));
    out.item.push_back(IdKey(f_[lay.item]));
    out.click.push_back(click);
    out.p_ctr.push_back(p_ctr);
    if (out.has_conversion) {
      const uint8_t conv = check_.Label(num(lay.conversion, cols.conversion, "a 0/1 label"), cols.conversion, where,
                                        text(lay.conversion));
      check_.Chain(click, conv, where);
      out.conversion.push_back(conv);
      double p_cvr = -1, p_ctcvr = -1;
      if (lay.p_cvr >= 0) {
        p_cvr = check_.Probability(num(lay.p_cvr, cols.p_cvr, "a probability"), cols.p_cvr, where, text(lay.p_cvr));
      }
      if (lay.p_ctcvr >= 0) {
        p_ctcvr = check_.Probability(num(lay.p_ctcvr, cols.p_ctcvr, "a probability"), cols.p_ctcvr, where,
                                     text(lay.p_ctcvr));
      }
      AddConversionScores(p_ctr, p_cvr, p_ctcvr, &out);
    }
    if (out.has_value) {
      out.value.push_back(check_.Value(num(lay.value, cols.value, "a number"), cols.value, where, text(lay.value)));
    }
    if (out.has_category) AddCategories(f_[lay.category], &out);
    for (size_t s = 0; s < lay.slices.size(); ++s) out.slice_codes[s].push_back(builder->SliceCode(s, f_[lay.slices[s]]));
  }

 private:
  const std::string& path_;
  const PredictionColumns& cols_;
  const CsvFormat& fmt_;
  RowChecker check_;
  CsvSplitter splitter_;
  std::vector<std::string_view> f_;
};

// Parses records until `max_rows` rows are in `out`; false when the reader ran out.
bool ParseRecords(LineReader& in, CsvRowParser& parser, char delim, size_t max_rows, RowsBuilder* out,
                  int64_t* parsed) {
  std::string record;
  int64_t line = 0;
  while (out->rows().size() < max_rows) {
    if (!ReadCsvRecord(in, delim, &record, &line)) return false;
    parser.Parse(record, line, out);
    ++*parsed;
  }
  return true;
}

// One round of blocks dealt round-robin: reads the next world x kDealtRecords records and parses
// those of this rank's block. False at the end of the input.
bool ParseDealtRound(LineReader& in, CsvRowParser& parser, char delim, int rank, int world, RowsBuilder* out,
                     int64_t* parsed, int64_t* index) {
  std::string record;
  int64_t line = 0;
  for (int64_t n = 0; n < world * kDealtRecords; ++n) {
    if (!ReadCsvRecord(in, delim, &record, &line)) return false;
    if ((*index)++ / kDealtRecords % world != rank) continue;
    parser.Parse(record, line, out);
    ++*parsed;
  }
  return true;
}

// Exchange rounds until no rank has rows left: `next(chunk)` parses this rank's next rows and says
// whether more follow.
template <typename Next>
PredictionRows ExchangeRounds(Communicator& comm, const RowsBuilder& shape, UserExchange::Order order, Next next) {
  UserExchange exchange(comm, shape, order);
  for (;;) {
    RowsBuilder chunk = shape.EmptyLike();
    const bool more = next(&chunk);
    exchange.Round(chunk.rows());
    if (AllReduceScalar<int64_t>(comm, more ? 1 : 0, ReduceOp::kMax) == 0) break;
  }
  return exchange.Finish();
}

// The file's checksum from every rank's block digests: 40 bytes per 16 MiB block of input, so
// this gather is about 2.5 millionths of the file.
std::string GatherChecksum(Communicator& comm, const std::vector<std::pair<int64_t, std::string>>& mine) {
  std::vector<uint8_t> bytes;
  for (const auto& [k, hex] : mine) {
    const std::string item = fmt::format("{:016x}{}", k, hex);
    bytes.insert(bytes.end(), item.begin(), item.end());
  }
  const std::vector<uint8_t> all = AllGatherV(comm, bytes);
  std::vector<std::pair<int64_t, std::string>> blocks;
  for (size_t i = 0; i + 48 <= all.size(); i += 48) {
    const std::string item(all.begin() + static_cast<std::ptrdiff_t>(i), all.begin() + static_cast<std::ptrdiff_t>(i + 48));
    blocks.emplace_back(std::stoll(item.substr(0, 16), nullptr, 16), item.substr(16));
  }
  return FileChecksum(std::move(blocks));
}

// A plain file at world > 1 is read as byte blocks (ReadPredictions); a gzip stream cannot be
// entered mid-way, so every rank decompresses all of it and parses every world-th block of records.
// So is a plain file whose quotes make a range start inside a quoted field (an odd count of '"'
// before it): ranges would cut a record.
PredictionRows ReadCsv(const std::string& path, const PredictionColumns& cols, Communicator& comm) {
  const int world = comm.WorldSize(), rank = comm.Rank();
  LineReader in(path);
  in.HashBlocks(world, rank);
  const CsvFormat fmt = ReadCsvHeader(in, path, cols);
  const RowsBuilder shape = fmt.Builder(cols.slices.size());
  CsvRowParser parser(path, cols, fmt);
  int64_t parsed = 0;
  PredictionRows out;
  std::vector<std::pair<int64_t, std::string>> digests;
  bool done = false;
  if (world > 1 && !IsGzipFile(path)) {
    // Blocks of at most kByteBlock bytes of the data after the header, dealt round-robin: round j
    // parses block j * world + rank on every rank, so what a round delivers is in file order.
    const int64_t size = FileSize(path), h = fmt.header_end, data = size - h;
    const int64_t block = std::clamp<int64_t>((data + world - 1) / world, 1, kByteBlock);
    const int64_t blocks = (data + block - 1) / block;
    auto range_of = [&](int64_t k) { return ScanLineRange(path, h + k * block, std::min(size, h + (k + 1) * block), size); };
    std::vector<LineRange> ranges;
    std::vector<int64_t> counts;
    for (int64_t k = rank; k < blocks; k += world) {
      ranges.push_back(range_of(k));
      counts.push_back(ranges.back().lines);
      counts.push_back(ranges.back().quotes);
    }
    // 16 bytes per block of up to 16 MiB: about a millionth of the file.
    const std::vector<int64_t> all = AllGatherV(comm, counts);
    std::vector<int64_t> lines(static_cast<size_t>(blocks)), quotes(static_cast<size_t>(blocks));
    size_t at = 0;
    for (int q = 0; q < world; ++q) {
      for (int64_t k = q; k < blocks; k += world, at += 2) {
        lines[k] = all[at];
        quotes[k] = all[at + 1];
      }
    }
    std::vector<int64_t> lines_before(static_cast<size_t>(blocks));
    int64_t line = fmt.header_lines, quote = 0;
    bool whole_records = true;
    for (int64_t k = 0; k < blocks; ++k) {
      whole_records = whole_records && quote % 2 == 0;
      lines_before[k] = line;
      line += lines[k];
      quote += quotes[k];
    }
    if (whole_records) {
      digests = HashFileBlocks(path, size * rank / world, size * (rank + 1) / world, size);
      UserExchange exchange(comm, shape, UserExchange::Order::kRoundMajor);
      // Records are about lines: room for this rank's expected share, 5% over for uneven users.
      exchange.Reserve(static_cast<size_t>(static_cast<double>(line - fmt.header_lines) / world * 1.05) + 1024);
      RowsBuilder chunk = shape.EmptyLike();
      for (int64_t k = rank, j = 0; k - rank < blocks; k += world, ++j) {
        chunk.Clear();
        if (k < blocks) {
          LineReader share(path, ranges[j].begin, ranges[j].end, lines_before[k]);
          ParseRecords(share, parser, fmt.delim, SIZE_MAX, &chunk, &parsed);
        }
        exchange.Round(chunk.rows());
      }
      out = exchange.Finish();
      done = true;
    } else if (rank == 0) {
      RP_LOG_INFO("{}: a quoted field spans lines across a byte-range boundary: every rank reads the whole file", path);
    }
  }
  if (!done) {
    if (world == 1) {
      RowsBuilder builder = shape.EmptyLike();
      ParseRecords(in, parser, fmt.delim, SIZE_MAX, &builder, &parsed);
      out = builder.Take();
    } else {
      int64_t index = 0;
      out = ExchangeRounds(comm, shape, UserExchange::Order::kRoundMajor, [&](RowsBuilder* chunk) {
        return ParseDealtRound(in, parser, fmt.delim, rank, world, chunk, &parsed, &index);
      });
    }
    digests = in.BlockDigests();
  }
  out.file_rows = AllReduceScalar<int64_t>(comm, parsed, ReduceOp::kSum);
  RP_REQUIRE(out.file_rows > 0, StatusCode::kDataError, "{}: no rows after the header: nothing to evaluate", path);
  out.checksum = GatherChecksum(comm, digests);
  return out;
}

// ---- HDF5 ----

int64_t DatasetRows(hid_t file, const std::string& path, const std::string& name) {
  hdf5::Handle d(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose);
  RP_REQUIRE(d.get() >= 0, StatusCode::kDataError, "{}: cannot open dataset '/{}'", path, name);
  hdf5::Handle sp(H5Dget_space(d.get()), H5Sclose);
  hsize_t dims[2] = {0, 0};
  const int nd = H5Sget_simple_extent_ndims(sp.get());
  RP_REQUIRE(nd == 1, StatusCode::kDataError, "{}:/{}: expected a 1-D dataset, found {} dimensions", path, name, nd);
  H5Sget_simple_extent_dims(sp.get(), dims, nullptr);
  return static_cast<int64_t>(dims[0]);
}

template <typename T>
std::vector<T> ReadBlock(hid_t file, const std::string& path, const std::string& name, int64_t begin, int64_t end) {
  hdf5::Handle d(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose);
  hdf5::Handle fs(H5Dget_space(d.get()), H5Sclose);
  hsize_t start[1] = {static_cast<hsize_t>(begin)}, count[1] = {static_cast<hsize_t>(end - begin)};
  H5Sselect_hyperslab(fs.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
  hdf5::Handle ms(H5Screate_simple(1, count, nullptr), H5Sclose);
  std::vector<T> v(static_cast<size_t>(end - begin));
  const hid_t type = std::is_same_v<T, double> ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64;
  RP_REQUIRE(H5Dread(d.get(), type, ms.get(), fs.get(), H5P_DEFAULT, v.data()) >= 0, StatusCode::kDataError,
             "{}:/{}: cannot read rows [{}, {}) as {} (expected a numeric dataset)", path, name, begin, end,
             std::is_same_v<T, double> ? "numbers" : "integers");
  return v;
}

// One predictions file in HDF5 (one 1-D dataset per column), read a row block at a time. HDF5 is
// called under the process's HDF5 mutex, never across a collective (inproc ranks share it).
class Hdf5Predictions {
 public:
  Hdf5Predictions(const std::string& path, const PredictionColumns& cols) : path_(path), cols_(cols) {
    std::lock_guard<std::mutex> lock(hdf5::Mutex());
    hdf5::Quiet();
    file_ = hdf5::Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    RP_REQUIRE(file_.get() >= 0, StatusCode::kIoError, "{}: cannot open as HDF5 (missing, unreadable or not HDF5)", path);
    for (const auto& [name, role] : {std::pair{cols.user, "user id"}, {cols.item, "item id"}, {cols.click, "click label"},
                                     {cols.p_ctr, "predicted click probability"}}) {
      RP_REQUIRE(Has(name), StatusCode::kDataError, "{}: missing dataset '/{}' ({})", path, name, role);
    }
    has_conversion_ = Has(cols.conversion);
    has_cvr_ = Has(cols.p_cvr);
    has_ctcvr_ = Has(cols.p_ctcvr);
    RP_REQUIRE(!has_conversion_ || has_cvr_ || has_ctcvr_, StatusCode::kDataError,
               "{}: dataset '/{}' is present but neither '/{}' nor '/{}' is", path, cols.conversion, cols.p_cvr,
               cols.p_ctcvr);
    has_value_ = Has(cols.value);
    for (const auto& s : cols.slices) {
      RP_REQUIRE(Has(s), StatusCode::kDataError, "{}: missing dataset '/{}' (slice column, eval.slices)", path, s);
    }
    rows_ = DatasetRows(file_.get(), path, cols.user);
    RP_REQUIRE(rows_ > 0, StatusCode::kDataError, "{}:/{}: no rows: nothing to evaluate", path, cols.user);
    std::vector<std::string> names = {cols.item, cols.click, cols.p_ctr};
    if (has_conversion_) names.push_back(cols.conversion);
    if (has_cvr_) names.push_back(cols.p_cvr);
    if (has_ctcvr_) names.push_back(cols.p_ctcvr);
    if (has_value_) names.push_back(cols.value);
    for (const auto& s : cols.slices) names.push_back(s);
    for (const auto& name : names) {
      const int64_t m = DatasetRows(file_.get(), path, name);
      RP_REQUIRE(m == rows_, StatusCode::kDataError, "{}:/{}: expected {} rows (as /{}), found {}", path, name, rows_,
                 cols.user, m);
    }
  }
  ~Hdf5Predictions() {
    std::lock_guard<std::mutex> lock(hdf5::Mutex());
    file_.reset();
  }
  Hdf5Predictions(const Hdf5Predictions&) = delete;
  Hdf5Predictions& operator=(const Hdf5Predictions&) = delete;

  int64_t rows() const { return rows_; }
  RowsBuilder Builder() const { return RowsBuilder(has_conversion_, has_value_, false, cols_.slices.size()); }

  // Parses rows [b, e) into `builder`; errors name file:/dataset[row].
  void Parse(int64_t b, int64_t e, RowsBuilder* builder) const {
    const PredictionColumns& cols = cols_;
    std::vector<int64_t> user, item;
    std::vector<double> click, p_ctr, conv, p_cvr, p_ctcvr, value;
    std::vector<std::vector<int64_t>> slices;
    {
      std::lock_guard<std::mutex> lock(hdf5::Mutex());
      const hid_t f = file_.get();
      user = ReadBlock<int64_t>(f, path_, cols.user, b, e);
      item = ReadBlock<int64_t>(f, path_, cols.item, b, e);
      click = ReadBlock<double>(f, path_, cols.click, b, e);
      p_ctr = ReadBlock<double>(f, path_, cols.p_ctr, b, e);
      if (has_conversion_) conv = ReadBlock<double>(f, path_, cols.conversion, b, e);
      if (has_cvr_) p_cvr = ReadBlock<double>(f, path_, cols.p_cvr, b, e);
      if (has_ctcvr_) p_ctcvr = ReadBlock<double>(f, path_, cols.p_ctcvr, b, e);
      if (has_value_) value = ReadBlock<double>(f, path_, cols.value, b, e);
      for (const auto& s : cols.slices) slices.push_back(ReadBlock<int64_t>(f, path_, s, b, e));
    }
    PredictionRows& out = builder->rows();
    RowChecker check{cols};
    for (int64_t r = 0; r < e - b; ++r) {
      const auto i = static_cast<size_t>(r);
      auto where = [&](const std::string& col) { return [&, col] { return fmt::format("{}:/{}[{}]", path_, col, b + r); }; };
      auto text = [](double v) { return [v] { return fmt::format("{}", v); }; };
      out.user.push_back(IdKey(std::to_string(user[i])));
      out.item.push_back(IdKey(std::to_string(item[i])));
      const uint8_t c = check.Label(click[i], cols.click, where(cols.click), text(click[i]));
      out.click.push_back(c);
      out.p_ctr.push_back(check.Probability(p_ctr[i], cols.p_ctr, where(cols.p_ctr), text(p_ctr[i])));
      if (has_conversion_) {
        const uint8_t v = check.Label(conv[i], cols.conversion, where(cols.conversion), text(conv[i]));
        check.Chain(c, v, where(cols.conversion));
        out.conversion.push_back(v);
        const double pc = has_cvr_ ? check.Probability(p_cvr[i], cols.p_cvr, where(cols.p_cvr), text(p_cvr[i])) : -1;
        const double pcc =
            has_ctcvr_ ? check.Probability(p_ctcvr[i], cols.p_ctcvr, where(cols.p_ctcvr), text(p_ctcvr[i])) : -1;
        AddConversionScores(out.p_ctr.back(), pc, pcc, &out);
      }
      if (has_value_) out.value.push_back(check.Value(value[i], cols.value, where(cols.value), text(value[i])));
      for (size_t s = 0; s < slices.size(); ++s) {
        out.slice_codes[s].push_back(builder->SliceCode(s, std::to_string(slices[s][i])));
      }
    }
  }

 private:
  bool Has(const std::string& name) const { return hdf5::Exists(file_.get(), name); }

  std::string path_;
  const PredictionColumns& cols_;
  hdf5::Handle file_;
  bool has_conversion_ = false, has_cvr_ = false, has_ctcvr_ = false, has_value_ = false;
  int64_t rows_ = 0;
};

// Rank r reads row blocks r, r + N, ... as hyperslabs.
PredictionRows ReadHdf5(const std::string& path, const PredictionColumns& cols, Communicator& comm) {
  const Hdf5Predictions file(path, cols);
  const int64_t n = file.rows(), world = comm.WorldSize(), rank = comm.Rank();
  const RowsBuilder shape = file.Builder();
  PredictionRows out;
  if (world == 1) {
    RowsBuilder builder = shape.EmptyLike();
    for (int64_t b = 0; b < n; b += static_cast<int64_t>(kRoundRows)) {
      file.Parse(b, std::min(n, b + static_cast<int64_t>(kRoundRows)), &builder);
    }
    out = builder.Take();
  } else {
    // Row blocks dealt round-robin, like the byte blocks of a CSV.
    const int64_t step = static_cast<int64_t>(kRoundRows), blocks = (n + step - 1) / step;
    UserExchange exchange(comm, shape, UserExchange::Order::kRoundMajor);
    exchange.Reserve(static_cast<size_t>(static_cast<double>(n) / world * 1.05) + 1024);
    RowsBuilder chunk = shape.EmptyLike();
    for (int64_t k = rank; k - rank < blocks; k += world) {
      chunk.Clear();
      if (k < blocks) file.Parse(k * step, std::min(n, (k + 1) * step), &chunk);
      exchange.Round(chunk.rows());
    }
    out = exchange.Finish();
  }
  out.file_rows = n;
  return out;
}

// ---- Sharded inputs: a directory or a glob of files ----

bool IsShardedInput(const std::string& path) {
  return path.find_first_of("*?[") != std::string::npos || std::filesystem::is_directory(path);
}

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

}  // namespace

uint64_t IdKey(std::string_view id) { return Fnv1a64(id); }

int UserShard(uint64_t user_key, int world) {
  return world <= 1 ? 0 : static_cast<int>(Mix64(user_key) % static_cast<uint64_t>(world));
}

PredictionRows ReadPredictions(const std::string& path, const PredictionColumns& columns, Communicator& comm) {
  if (IsShardedInput(path)) return ReadSharded(path, columns, comm);
  return IsHdf5Path(path) ? ReadHdf5(path, columns, comm) : ReadCsv(path, columns, comm);
}

}  // namespace recprism::data
