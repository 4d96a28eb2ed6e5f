#include "data/predictions.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <unordered_map>

#include "core/check.h"
#include "core/hash.h"
#include "data/hdf5_util.h"
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

// Interns slice values: one dictionary per slice column.
struct SliceDict {
  std::vector<std::unordered_map<std::string, uint32_t>> maps;
  uint32_t Code(size_t s, std::string_view v, PredictionRows* out) {
    auto& m = maps[s];
    auto it = m.find(std::string(v));
    if (it != m.end()) return it->second;
    const auto code = static_cast<uint32_t>(out->slice_values[s].size());
    out->slice_values[s].emplace_back(v);
    m.emplace(std::string(v), code);
    return code;
  }
};

PredictionRows ReadCsv(const std::string& path, const PredictionColumns& cols, int rank, int world) {
  LineReader in(path);
  std::string line;
  RP_REQUIRE(in.Next(&line), StatusCode::kDataError,
             "{}: the predictions file is empty: expected a header line naming the columns ({}, {}, {}, {}, ...)",
             path, cols.user, cols.item, cols.click, cols.p_ctr);
  const char delim = line.find('\t') != std::string::npos && line.find(',') == std::string::npos ? '\t' : ',';
  std::vector<std::string_view> f;
  CsvSplitter splitter;
  const auto header_shape = splitter.Split(line, delim, &f);
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
  Layout lay;
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

  PredictionRows out;
  out.has_conversion = lay.conversion >= 0;
  out.has_value = lay.value >= 0;
  out.has_category = lay.category >= 0;
  out.slice_codes.resize(cols.slices.size());
  out.slice_values.resize(cols.slices.size());
  SliceDict dict;
  dict.maps.resize(cols.slices.size());
  RowChecker check{cols};
  const size_t width = header.size();
  int64_t line_number = 0;
  while (ReadCsvRecord(in, delim, &line, &line_number)) {
    ++out.file_rows;
    auto where = [&] { return fmt::format("{}:{}", path, line_number); };
    const auto shape = splitter.Split(line, delim, &f);
    RP_REQUIRE(shape == CsvSplitter::Result::kOk, StatusCode::kDataError, "{}: {}: '{}'", where(),
               CsvSplitter::Explain(shape), Excerpt(line));
    RP_REQUIRE(f.size() == width, StatusCode::kDataError, "{}: expected {} fields (as the header), found {}: '{}'",
               where(), width, f.size(), Excerpt(line));
    const uint64_t user = IdKey(f[lay.user]);
    if (UserShard(user, world) != rank) continue;
    auto num = [&](int col, const std::string& name, const char* what) {
      double v = 0;
      RP_REQUIRE(ParseFloat(f[col], &v), StatusCode::kDataError, "{}: column '{}': expected {}, found '{}'", where(),
                 name, what, Excerpt(f[col], 40));
      return v;
    };
    auto text = [&](int col) { return [&f, col] { return Excerpt(f[col], 40); }; };
    RP_REQUIRE(!f[lay.user].empty(), StatusCode::kDataError, "{}: column '{}': empty user id", where(), cols.user);
    RP_REQUIRE(!f[lay.item].empty(), StatusCode::kDataError, "{}: column '{}': empty item id", where(), cols.item);
    out.user.push_back(user);
    out.item.push_back(IdKey(f[lay.item]));
    const uint8_t click = check.Label(num(lay.click, cols.click, "a 0/1 label"), cols.click, where, text(lay.click));
    out.click.push_back(click);
    const double p_ctr =
        check.Probability(num(lay.p_ctr, cols.p_ctr, "a probability"), cols.p_ctr, where, text(lay.p_ctr));
    out.p_ctr.push_back(p_ctr);
    if (out.has_conversion) {
      const uint8_t conv =
          check.Label(num(lay.conversion, cols.conversion, "a 0/1 label"), cols.conversion, where, text(lay.conversion));
      check.Chain(click, conv, where);
      out.conversion.push_back(conv);
      double p_cvr = -1, p_ctcvr = -1;
      if (lay.p_cvr >= 0) p_cvr = check.Probability(num(lay.p_cvr, cols.p_cvr, "a probability"), cols.p_cvr, where, text(lay.p_cvr));
      if (lay.p_ctcvr >= 0) {
        p_ctcvr = check.Probability(num(lay.p_ctcvr, cols.p_ctcvr, "a probability"), cols.p_ctcvr, where,
                                    text(lay.p_ctcvr));
      }
      AddConversionScores(p_ctr, p_cvr, p_ctcvr, &out);
    }
    if (out.has_value) out.value.push_back(check.Value(num(lay.value, cols.value, "a number"), cols.value, where, text(lay.value)));
    if (out.has_category) AddCategories(f[lay.category], &out);
    for (size_t s = 0; s < lay.slices.size(); ++s) out.slice_codes[s].push_back(dict.Code(s, f[lay.slices[s]], &out));
  }
  RP_REQUIRE(out.file_rows > 0, StatusCode::kDataError, "{}: no rows after the header: nothing to evaluate", path);
  out.md5 = in.Md5Hex();
  return out;
}

// ---- HDF5 ----

bool HasDataset(hid_t file, const std::string& name) { return hdf5::Exists(file, name); }

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

PredictionRows ReadHdf5(const std::string& path, const PredictionColumns& cols, int rank, int world) {
  std::lock_guard<std::mutex> lock(hdf5::Mutex());
  hdf5::Quiet();
  hdf5::Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  RP_REQUIRE(file.get() >= 0, StatusCode::kIoError, "{}: cannot open as HDF5 (missing, unreadable or not HDF5)", path);
  for (const auto& [name, role] : {std::pair{cols.user, "user id"}, {cols.item, "item id"}, {cols.click, "click label"},
                                   {cols.p_ctr, "predicted click probability"}}) {
    RP_REQUIRE(HasDataset(file.get(), name), StatusCode::kDataError, "{}: missing dataset '/{}' ({})", path, name, role);
  }
  PredictionRows out;
  out.has_conversion = HasDataset(file.get(), cols.conversion);
  const bool has_cvr = HasDataset(file.get(), cols.p_cvr), has_ctcvr = HasDataset(file.get(), cols.p_ctcvr);
  RP_REQUIRE(!out.has_conversion || has_cvr || has_ctcvr, StatusCode::kDataError,
             "{}: dataset '/{}' is present but neither '/{}' nor '/{}' is", path, cols.conversion, cols.p_cvr,
             cols.p_ctcvr);
  out.has_value = HasDataset(file.get(), cols.value);
  for (const auto& s : cols.slices) {
    RP_REQUIRE(HasDataset(file.get(), s), StatusCode::kDataError, "{}: missing dataset '/{}' (slice column, eval.slices)",
               path, s);
  }
  const int64_t n = DatasetRows(file.get(), path, cols.user);
  RP_REQUIRE(n > 0, StatusCode::kDataError, "{}:/{}: no rows: nothing to evaluate", path, cols.user);
  std::vector<std::string> names = {cols.item, cols.click, cols.p_ctr};
  if (out.has_conversion) names.push_back(cols.conversion);
  if (has_cvr) names.push_back(cols.p_cvr);
  if (has_ctcvr) names.push_back(cols.p_ctcvr);
  if (out.has_value) names.push_back(cols.value);
  for (const auto& s : cols.slices) names.push_back(s);
  for (const auto& name : names) {
    const int64_t m = DatasetRows(file.get(), path, name);
    RP_REQUIRE(m == n, StatusCode::kDataError, "{}:/{}: expected {} rows (as /{}), found {}", path, name, n, cols.user, m);
  }
  out.file_rows = n;
  out.slice_codes.resize(cols.slices.size());
  out.slice_values.resize(cols.slices.size());
  std::vector<std::map<int64_t, uint32_t>> dicts(cols.slices.size());
  RowChecker check{cols};
  const int64_t step = 1 << 20;
  for (int64_t b = 0; b < n; b += step) {
    const int64_t e = std::min(n, b + step);
    auto user = ReadBlock<int64_t>(file.get(), path, cols.user, b, e);
    auto item = ReadBlock<int64_t>(file.get(), path, cols.item, b, e);
    auto click = ReadBlock<double>(file.get(), path, cols.click, b, e);
    auto p_ctr = ReadBlock<double>(file.get(), path, cols.p_ctr, b, e);
    std::vector<double> conv, p_cvr, p_ctcvr, value;
    if (out.has_conversion) conv = ReadBlock<double>(file.get(), path, cols.conversion, b, e);
    if (has_cvr) p_cvr = ReadBlock<double>(file.get(), path, cols.p_cvr, b, e);
    if (has_ctcvr) p_ctcvr = ReadBlock<double>(file.get(), path, cols.p_ctcvr, b, e);
    if (out.has_value) value = ReadBlock<double>(file.get(), path, cols.value, b, e);
    std::vector<std::vector<int64_t>> slices;
    for (const auto& s : cols.slices) slices.push_back(ReadBlock<int64_t>(file.get(), path, s, b, e));
    for (int64_t r = 0; r < e - b; ++r) {
      const auto i = static_cast<size_t>(r);
      const std::string id = std::to_string(user[i]);
      const uint64_t ukey = IdKey(id);
      if (UserShard(ukey, world) != rank) continue;
      auto where = [&](const std::string& col) { return [&, col] { return fmt::format("{}:/{}[{}]", path, col, b + r); }; };
      auto text = [](double v) { return [v] { return fmt::format("{}", v); }; };
      out.user.push_back(ukey);
      out.item.push_back(IdKey(std::to_string(item[i])));
      const uint8_t c = check.Label(click[i], cols.click, where(cols.click), text(click[i]));
      out.click.push_back(c);
      out.p_ctr.push_back(check.Probability(p_ctr[i], cols.p_ctr, where(cols.p_ctr), text(p_ctr[i])));
      if (out.has_conversion) {
        const uint8_t v = check.Label(conv[i], cols.conversion, where(cols.conversion), text(conv[i]));
        check.Chain(c, v, where(cols.conversion));
        out.conversion.push_back(v);
        const double pc = has_cvr ? check.Probability(p_cvr[i], cols.p_cvr, where(cols.p_cvr), text(p_cvr[i])) : -1;
        const double pcc =
            has_ctcvr ? check.Probability(p_ctcvr[i], cols.p_ctcvr, where(cols.p_ctcvr), text(p_ctcvr[i])) : -1;
        AddConversionScores(out.p_ctr.back(), pc, pcc, &out);
      }
      if (out.has_value) out.value.push_back(check.Value(value[i], cols.value, where(cols.value), text(value[i])));
      for (size_t s = 0; s < slices.size(); ++s) {
        auto [it, inserted] = dicts[s].emplace(slices[s][i], static_cast<uint32_t>(out.slice_values[s].size()));
        if (inserted) out.slice_values[s].push_back(std::to_string(slices[s][i]));
        out.slice_codes[s].push_back(it->second);
      }
    }
  }
  return out;
}

}  // namespace

uint64_t IdKey(std::string_view id) { return Fnv1a64(id); }

int UserShard(uint64_t user_key, int world) {
  return world <= 1 ? 0 : static_cast<int>(Mix64(user_key) % static_cast<uint64_t>(world));
}

PredictionRows ReadPredictions(const std::string& path, const PredictionColumns& columns, int rank, int world) {
  return IsHdf5Path(path) ? ReadHdf5(path, columns, rank, world) : ReadCsv(path, columns, rank, world);
}

}  // namespace recprism::data
