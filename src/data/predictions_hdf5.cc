// HDF5 predictions: one 1-D dataset per column, read as hyperslabs a row block at a time.
#include <algorithm>
#include <mutex>
#include <type_traits>

#include "comm/collectives.h"
#include "core/check.h"
#include "data/predictions_formats.h"

namespace recprism::data::detail {
namespace {

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

}  // namespace

Hdf5Predictions::Hdf5Predictions(const std::string& path, const PredictionColumns& cols)
    : path_(path), cols_(cols) {
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

Hdf5Predictions::~Hdf5Predictions() {
  std::lock_guard<std::mutex> lock(hdf5::Mutex());
  file_.reset();
}

void Hdf5Predictions::Parse(int64_t b, int64_t e, RowsBuilder* builder) const {
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

}  // namespace recprism::data::detail
