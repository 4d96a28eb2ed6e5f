#include "data/predictions.h"

#include <algorithm>

#include "comm/collectives.h"
#include "core/check.h"
#include "core/hash.h"
#include "core/log.h"
#include "data/predictions_formats.h"

namespace recprism::data {
namespace detail {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool IsHdf5Path(const std::string& path) { return EndsWith(path, ".h5") || EndsWith(path, ".hdf5"); }

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

// ---- CSV / TSV ----

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

void CsvRowParser::Parse(const std::string& line, int64_t line_number, RowsBuilder* builder) {
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

namespace {

// Records per block when blocks are dealt (gzip), and bytes per block of a plain file.
constexpr int64_t kDealtRecords = int64_t{1} << 16;
constexpr int64_t kByteBlock = int64_t{16} << 20;

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

}  // namespace

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

}  // namespace detail

uint64_t IdKey(std::string_view id) { return Fnv1a64(id); }

int UserShard(uint64_t user_key, int world) {
  return world <= 1 ? 0 : static_cast<int>(Mix64(user_key) % static_cast<uint64_t>(world));
}

PredictionRows ReadPredictions(const std::string& path, const PredictionColumns& columns, Communicator& comm) {
  if (detail::IsShardedInput(path)) return detail::ReadSharded(path, columns, comm);
  return detail::IsHdf5Path(path) ? detail::ReadHdf5(path, columns, comm) : detail::ReadCsv(path, columns, comm);
}

}  // namespace recprism::data
