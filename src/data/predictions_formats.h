// The predictions readers' shared parts (internal to data/predictions*.cc): row checks, the CSV
// header and row parser, the HDF5 reader, and the three ways to read (predictions.cc: CSV/TSV and
// gzip; predictions_hdf5.cc: HDF5; predictions_sharded.cc: a directory or glob of files).
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "comm/communicator.h"
#include "core/check.h"
#include "data/hdf5_util.h"
#include "data/prediction_exchange.h"
#include "data/predictions.h"
#include "data/text_input.h"

namespace recprism::data::detail {

// Rows a rank parses between two exchanges (HDF5 row blocks, sharded files).
constexpr size_t kRoundRows = size_t{1} << 18;

bool EndsWith(const std::string& s, const std::string& suffix);
bool IsHdf5Path(const std::string& path);

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
inline void AddConversionScores(double p_ctr, double p_cvr, double p_ctcvr, PredictionRows* out) {
  if (p_ctcvr < 0) p_ctcvr = p_ctr * p_cvr;
  if (p_cvr < 0) p_cvr = p_ctr > 0 ? std::min(1.0, p_ctcvr / p_ctr) : 0.0;
  out->p_cvr.push_back(p_cvr);
  out->p_ctcvr.push_back(p_ctcvr);
}

// Column positions in a CSV header (-1: the column is absent).
struct Layout {
  int user = -1, item = -1, click = -1, conversion = -1, p_ctr = -1, p_cvr = -1, p_ctcvr = -1, value = -1,
      category = -1;
  std::vector<int> slices;
};

// Appends a row's categories ('|'-separated), sorted and unique.
void AddCategories(std::string_view text, PredictionRows* out);

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
CsvFormat ReadCsvHeader(LineReader& in, const std::string& path, const PredictionColumns& cols);

// Parses and checks one record (any user's) into a builder; errors name file:line and the column.
class CsvRowParser {
 public:
  CsvRowParser(const std::string& path, const PredictionColumns& cols, const CsvFormat& fmt)
      : path_(path), cols_(cols), fmt_(fmt), check_{cols} {}

  void Parse(const std::string& line, int64_t line_number, RowsBuilder* builder);

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
                  int64_t* parsed);

// One predictions file in HDF5 (one 1-D dataset per column), read a row block at a time. HDF5 is
// called under the process's HDF5 mutex, never across a collective (inproc ranks share it).
class Hdf5Predictions {
 public:
  // Opens the file and checks its datasets (names, 1-D, equal lengths); errors name file:/dataset.
  Hdf5Predictions(const std::string& path, const PredictionColumns& cols);
  ~Hdf5Predictions();
  Hdf5Predictions(const Hdf5Predictions&) = delete;
  Hdf5Predictions& operator=(const Hdf5Predictions&) = delete;

  int64_t rows() const { return rows_; }
  RowsBuilder Builder() const { return RowsBuilder(has_conversion_, has_value_, false, cols_.slices.size()); }
  // Parses rows [b, e) into `builder`; errors name file:/dataset[row].
  void Parse(int64_t b, int64_t e, RowsBuilder* builder) const;

 private:
  bool Has(const std::string& name) const { return hdf5::Exists(file_.get(), name); }

  std::string path_;
  const PredictionColumns& cols_;
  hdf5::Handle file_;
  bool has_conversion_ = false, has_cvr_ = false, has_ctcvr_ = false, has_value_ = false;
  int64_t rows_ = 0;
};

// The three readers; each returns this rank's rows with file_rows and checksum set. Collective.
PredictionRows ReadCsv(const std::string& path, const PredictionColumns& cols, Communicator& comm);
PredictionRows ReadHdf5(const std::string& path, const PredictionColumns& cols, Communicator& comm);
bool IsShardedInput(const std::string& path);
PredictionRows ReadSharded(const std::string& input, const PredictionColumns& cols, Communicator& comm);

}  // namespace recprism::data::detail
