#include "data/prepared_file.h"

#include <unistd.h>

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <thread>
#include <filesystem>
#include <mutex>
#include <sstream>

#include "core/check.h"
#include "core/file_util.h"
#include "data/hdf5_util.h"

namespace recprism::data {
namespace {

using hdf5::Handle;

template <typename T>
hid_t TypeOf() {
  if constexpr (std::is_same_v<T, int64_t>) return H5T_NATIVE_INT64;
  else if constexpr (std::is_same_v<T, uint8_t>) return H5T_NATIVE_UINT8;
  else if constexpr (std::is_same_v<T, float>) return H5T_NATIVE_FLOAT;
  else static_assert(sizeof(T) == 0, "unsupported column type");
}

// Extendible, chunked, shuffled and gzip-compressed dataset of `cols` columns (0 = 1-D).
Handle CreateColumn(hid_t loc, const std::string& name, hid_t type, int cols, size_t chunk_rows,
                    const std::string& file) {
  int rank = cols > 0 ? 2 : 1;
  hsize_t dims[2] = {0, static_cast<hsize_t>(cols)};
  hsize_t maxdims[2] = {H5S_UNLIMITED, static_cast<hsize_t>(cols)};
  hsize_t chunk[2] = {static_cast<hsize_t>(std::max<size_t>(1, cols > 0 ? std::max<size_t>(1, chunk_rows / cols) : chunk_rows)),
                      static_cast<hsize_t>(std::max(cols, 1))};
  Handle space(H5Screate_simple(rank, dims, maxdims), H5Sclose);
  Handle plist(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_chunk(plist.get(), rank, chunk);
  H5Pset_shuffle(plist.get());
  H5Pset_deflate(plist.get(), 4);
  Handle d(H5Dcreate2(loc, name.c_str(), type, space.get(), H5P_DEFAULT, plist.get(), H5P_DEFAULT), H5Dclose);
  RP_REQUIRE(d.valid(), StatusCode::kIoError, "cannot create dataset '{}' in '{}'", name, file);
  return d;
}

template <typename T>
void AppendColumn(hid_t dset, const T* data, size_t rows, int cols, const std::string& what) {
  if (rows == 0) return;
  int rank = cols > 0 ? 2 : 1;
  Handle space(H5Dget_space(dset), H5Sclose);
  hsize_t dims[2] = {0, 0};
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  hsize_t newdims[2] = {dims[0] + rows, static_cast<hsize_t>(cols)};
  RP_REQUIRE(H5Dset_extent(dset, newdims) >= 0, StatusCode::kIoError, "cannot extend {}", what);
  Handle fspace(H5Dget_space(dset), H5Sclose);
  hsize_t start[2] = {dims[0], 0};
  hsize_t count[2] = {rows, static_cast<hsize_t>(cols)};
  H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
  Handle mspace(H5Screate_simple(rank, count, nullptr), H5Sclose);
  RP_REQUIRE(H5Dwrite(dset, TypeOf<T>(), mspace.get(), fspace.get(), H5P_DEFAULT, data) >= 0, StatusCode::kIoError,
             "cannot write {} (disk full?)", what);
}

template <typename T>
void WriteWhole(hid_t loc, const std::string& name, const std::vector<T>& v, int cols, const std::string& file) {
  Handle d = CreateColumn(loc, name, TypeOf<T>(), cols, 1 << 16, file);
  AppendColumn(d.get(), v.data(), cols > 0 ? v.size() / cols : v.size(), cols, file + ":" + name);
}

void WriteStringAttr(hid_t obj, const std::string& name, const std::string& value) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), std::max<size_t>(1, value.size()));
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  std::string padded = value.empty() ? std::string(1, '\0') : value;
  H5Awrite(attr.get(), type.get(), padded.data());
}

void WriteIntAttr(hid_t obj, const std::string& name, int64_t value) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(H5Acreate2(obj, name.c_str(), H5T_NATIVE_INT64, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  H5Awrite(attr.get(), H5T_NATIVE_INT64, &value);
}

bool ReadStringAttr(hid_t obj, const std::string& name, std::string* out) {
  if (H5Aexists(obj, name.c_str()) <= 0) return false;
  Handle attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
  Handle type(H5Aget_type(attr.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_STRING) return false;
  size_t size = H5Tget_size(type.get());
  std::string buf(size, '\0');
  Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(mem.get(), size);
  H5Tset_strpad(mem.get(), H5T_STR_NULLPAD);
  if (H5Aread(attr.get(), mem.get(), buf.data()) < 0) return false;
  auto nul = buf.find('\0');
  *out = nul == std::string::npos ? buf : buf.substr(0, nul);
  return true;
}

bool ReadIntAttr(hid_t obj, const std::string& name, int64_t* out) {
  if (H5Aexists(obj, name.c_str()) <= 0) return false;
  Handle attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
  return H5Aread(attr.get(), H5T_NATIVE_INT64, out) >= 0;
}

std::string Join(const std::vector<std::string>& v, char sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? std::string(1, sep) : "") + v[i];
  return out;
}

std::vector<std::string> SplitLines(const std::string& s, char sep) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  return out;
}

void StringsToBlob(const std::vector<std::string>& v, std::vector<uint8_t>* chars, std::vector<int64_t>* offsets) {
  offsets->assign(1, 0);
  for (const auto& s : v) {
    chars->insert(chars->end(), s.begin(), s.end());
    offsets->push_back(static_cast<int64_t>(chars->size()));
  }
}

}  // namespace

// An interactions column written chunk by chunk. Whole chunks are shuffled and deflated here by
// several threads, with exactly the filters the dataset declares (byte shuffle, then zlib's
// compress2 at level 4, as HDF5's own filters do), and stored with H5Dwrite_chunk, so any reader
// sees an ordinary chunked dataset. HDF5 would run the filters on one core.
struct ChunkedColumn {
  hid_t dset = -1;
  size_t elem = 0;        // bytes per element
  size_t width = 1;       // elements per row (F for a 2-D column)
  size_t chunk_rows = 0;  // rows per chunk
  int rank = 1;
  std::vector<char> pending;  // rows not yet in a written chunk
  int64_t rows = 0;           // rows appended (the extent)
  int64_t chunks = 0;         // chunks written
  size_t chunk_bytes() const { return chunk_rows * width * elem; }
};

struct ChunkJob {
  ChunkedColumn* column;
  int64_t index;
  std::vector<char> raw, packed;
};

void ShuffleAndDeflate(ChunkJob& job) {
  const size_t n = job.raw.size(), s = job.column->elem;
  std::vector<char> shuffled;
  const std::vector<char>* in = &job.raw;
  if (s > 1) {  // HDF5's shuffle: byte j of every element, then byte j + 1, ...
    shuffled.resize(n);
    const size_t count = n / s;
    for (size_t j = 0; j < s; ++j) {
      char* out = shuffled.data() + j * count;
      const char* src = job.raw.data() + j;
      for (size_t i = 0; i < count; ++i) out[i] = src[i * s];
    }
    in = &shuffled;
  }
  uLongf size = compressBound(static_cast<uLong>(n));
  job.packed.resize(size);
  const int rc = compress2(reinterpret_cast<Bytef*>(job.packed.data()), &size,
                           reinterpret_cast<const Bytef*>(in->data()), static_cast<uLong>(n), 4);
  RP_CHECK(rc == Z_OK, "zlib compress2 failed with {}", rc);
  job.packed.resize(size);
}

// Compresses the jobs on up to 4 threads, then writes them in order.
void WriteChunks(std::vector<ChunkJob>& jobs, const std::string& where) {
  if (jobs.empty()) return;
  const size_t threads = std::min<size_t>({jobs.size(), 4, std::max(1u, std::thread::hardware_concurrency())});
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(threads);
  for (size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      try {
        for (size_t j = t; j < jobs.size(); j += threads) ShuffleAndDeflate(jobs[j]);
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  }
  for (auto& th : pool) th.join();
  for (auto& e : errors) if (e) std::rethrow_exception(e);
  for (ChunkJob& job : jobs) {
    ChunkedColumn& c = *job.column;
    hsize_t offset[2] = {static_cast<hsize_t>(job.index) * c.chunk_rows, 0};
    RP_REQUIRE(H5Dwrite_chunk(c.dset, H5P_DEFAULT, 0, offset, job.packed.size(), job.packed.data()) >= 0,
               StatusCode::kIoError, "cannot write a chunk of {} (disk full?)", where);
  }
  jobs.clear();
}

// Appends rows to a column's pending bytes and queues every chunk that is now whole; with
// `final`, also the last partial chunk, padded with zeros.
void QueueRows(ChunkedColumn& c, const void* data, size_t rows, bool final, std::vector<ChunkJob>* jobs,
               const std::string& where) {
  if (rows > 0) {
    const char* p = static_cast<const char*>(data);
    c.pending.insert(c.pending.end(), p, p + rows * c.width * c.elem);
    c.rows += static_cast<int64_t>(rows);
    hsize_t dims[2] = {static_cast<hsize_t>(c.rows), static_cast<hsize_t>(c.width)};
    RP_REQUIRE(H5Dset_extent(c.dset, dims) >= 0, StatusCode::kIoError, "cannot extend {}", where);
  }
  const size_t cb = c.chunk_bytes();
  size_t used = 0;
  while (c.pending.size() - used >= cb || (final && c.pending.size() > used)) {
    ChunkJob job{&c, c.chunks++, {}, {}};
    const size_t take = std::min(cb, c.pending.size() - used);
    job.raw.assign(c.pending.begin() + static_cast<std::ptrdiff_t>(used),
                   c.pending.begin() + static_cast<std::ptrdiff_t>(used + take));
    job.raw.resize(cb, 0);
    used += take;
    jobs->push_back(std::move(job));
  }
  c.pending.erase(c.pending.begin(), c.pending.begin() + static_cast<std::ptrdiff_t>(used));
}

// ------------------------------------------------------------------------------------------
struct PreparedWriter::Impl {
  Handle file, interactions;
  Handle cols[8];
  Handle cat, num;
  size_t chunk_rows = 1 << 16;
  ChunkedColumn chunked[10];  // the 8 columns, then cat and num features
};

static constexpr const char* kColumnNames[8] = {"user", "item", "time", "event", "click", "conversion", "value", "split"};

PreparedWriter::PreparedWriter(const std::string& path, const Metadata& metadata, size_t chunk_rows)
    : impl_(std::make_unique<Impl>()), path_(path), tmp_(TempPathFor(path)), metadata_(metadata) {
  std::lock_guard<std::mutex> lock(hdf5::Mutex());
  hdf5::Quiet();
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  impl_->chunk_rows = chunk_rows;
  impl_->file = Handle(H5Fcreate(tmp_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  RP_REQUIRE(impl_->file.valid(), StatusCode::kIoError, "cannot create '{}' (for '{}')", tmp_, path);
  impl_->interactions =
      Handle(H5Gcreate2(impl_->file.get(), "interactions", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  const hid_t types[8] = {H5T_NATIVE_INT64, H5T_NATIVE_INT64, H5T_NATIVE_INT64, H5T_NATIVE_UINT8,
                          H5T_NATIVE_UINT8, H5T_NATIVE_UINT8, H5T_NATIVE_FLOAT, H5T_NATIVE_UINT8};
  for (int c = 0; c < 8; ++c) {
    impl_->cols[c] = CreateColumn(impl_->interactions.get(), kColumnNames[c], types[c], 0, chunk_rows, tmp_);
  }
  if (!metadata.cat_feature_names.empty()) {
    impl_->cat = CreateColumn(impl_->interactions.get(), "cat_features", H5T_NATIVE_INT64,
                              static_cast<int>(metadata.cat_feature_names.size()), chunk_rows, tmp_);
  }
  if (!metadata.num_feature_names.empty()) {
    impl_->num = CreateColumn(impl_->interactions.get(), "num_features", H5T_NATIVE_FLOAT,
                              static_cast<int>(metadata.num_feature_names.size()), chunk_rows, tmp_);
  }
  const size_t sizes[8] = {8, 8, 8, 1, 1, 1, 4, 1};
  for (int c = 0; c < 8; ++c) {
    ChunkedColumn& col = impl_->chunked[c];
    col.dset = impl_->cols[c].get();
    col.elem = sizes[c];
    col.chunk_rows = chunk_rows;
  }
  // 2-D columns: chunks of chunk_rows / F rows x all F columns (CreateColumn's layout).
  auto wide = [&](ChunkedColumn& col, const Handle& h, size_t elem, size_t f) {
    col.dset = h.valid() ? h.get() : -1;
    col.elem = elem;
    col.width = std::max<size_t>(1, f);
    col.rank = 2;
    col.chunk_rows = std::max<size_t>(1, chunk_rows / col.width);
  };
  wide(impl_->chunked[8], impl_->cat, 8, metadata.cat_feature_names.size());
  wide(impl_->chunked[9], impl_->num, 4, metadata.num_feature_names.size());
}

PreparedWriter::~PreparedWriter() {
  if (!finished_) {
    {
      std::lock_guard<std::mutex> lock(hdf5::Mutex());
      impl_.reset();
    }
    std::error_code ec;
    std::filesystem::remove(tmp_, ec);
  }
}

void PreparedWriter::AppendRows(const Rows& r) {
  std::lock_guard<std::mutex> lock(hdf5::Mutex());
  const size_t n = r.size();
  const std::string where = tmp_ + ":/interactions";
  const int fc = static_cast<int>(metadata_.cat_feature_names.size());
  const int fd = static_cast<int>(metadata_.num_feature_names.size());
  RP_CHECK(r.num_cat_features == fc && r.num_num_features == fd, "feature widths {}x{} differ from metadata {}x{}",
           r.num_cat_features, r.num_num_features, fc, fd);
  const void* data[10] = {r.user.data(),  r.item.data(),       r.time.data(),  r.event.data(), r.click.data(),
                          r.conversion.data(), r.value.data(), r.split.data(), r.cat_features.data(),
                          r.num_features.data()};
  std::vector<ChunkJob> jobs;
  for (int c = 0; c < 10; ++c) {
    if (impl_->chunked[c].dset < 0) continue;
    QueueRows(impl_->chunked[c], data[c], n, /*final=*/false, &jobs, where);
  }
  WriteChunks(jobs, where);
  rows_ += static_cast<int64_t>(n);
}

void PreparedWriter::Finish(const UserTable& users, const ItemTable& items) {
  {
    std::lock_guard<std::mutex> lock(hdf5::Mutex());
    {  // the last partial chunk of every column
      std::vector<ChunkJob> jobs;
      const std::string where = tmp_ + ":/interactions";
      for (auto& c : impl_->chunked) {
        if (c.dset >= 0) QueueRows(c, nullptr, 0, /*final=*/true, &jobs, where);
      }
      WriteChunks(jobs, where);
    }
    const hid_t f = impl_->file.get();
    Handle ug(H5Gcreate2(f, "users", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    WriteWhole(ug.get(), "offsets", users.offsets, 0, tmp_);
    WriteWhole(ug.get(), "split_rows", users.split_rows, kNumSplits, tmp_);
    std::vector<uint8_t> chars;
    std::vector<int64_t> offsets;
    StringsToBlob(users.raw_id, &chars, &offsets);
    WriteWhole(ug.get(), "raw_id_chars", chars, 0, tmp_);
    WriteWhole(ug.get(), "raw_id_offsets", offsets, 0, tmp_);
    if (!users.feature_names.empty()) {
      WriteWhole(ug.get(), "features", users.features, static_cast<int>(users.feature_names.size()), tmp_);
      WriteWhole(ug.get(), "feature_cardinality", users.feature_cardinality, 0, tmp_);
      WriteStringAttr(ug.get(), "feature_names", Join(users.feature_names, '\n'));
    }
    Handle ig(H5Gcreate2(f, "items", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    chars.clear();
    StringsToBlob(items.raw_id, &chars, &offsets);
    WriteWhole(ig.get(), "raw_id_chars", chars, 0, tmp_);
    WriteWhole(ig.get(), "raw_id_offsets", offsets, 0, tmp_);
    WriteWhole(ig.get(), "category_offsets", items.category_offsets, 0, tmp_);
    WriteWhole(ig.get(), "category_values", items.category_values, 0, tmp_);
    WriteWhole(ig.get(), "popularity", items.popularity, 0, tmp_);
    if (!metadata_.cat_feature_names.empty()) {
      WriteStringAttr(impl_->interactions.get(), "cat_feature_names", Join(metadata_.cat_feature_names, '\n'));
      WriteWhole(impl_->interactions.get(), "cat_feature_cardinality", metadata_.cat_feature_cardinality, 0, tmp_);
    }
    if (!metadata_.num_feature_names.empty()) {
      WriteStringAttr(impl_->interactions.get(), "num_feature_names", Join(metadata_.num_feature_names, '\n'));
    }
    WriteStringAttr(f, "format", kFormatName);
    WriteIntAttr(f, "format_version", kFormatVersion);
    WriteStringAttr(f, "preset", metadata_.preset);
    WriteStringAttr(f, "source", metadata_.source);
    WriteStringAttr(f, "time_semantics", metadata_.time_semantics);
    WriteStringAttr(f, "created_at", metadata_.created_at);
    WriteStringAttr(f, "recprism_version", metadata_.recprism_version);
    WriteStringAttr(f, "params", metadata_.params);
    std::vector<std::string> src;
    for (const auto& s : metadata_.sources) src.push_back(s.path + "\t" + s.md5 + "\t" + std::to_string(s.lines));
    WriteStringAttr(f, "source_files", Join(src, '\n'));
    WriteStringAttr(f, "notes", Join(metadata_.notes, '\n'));
    WriteIntAttr(f, "num_rows", rows_);
    WriteIntAttr(f, "num_users", users.num_users);
    WriteIntAttr(f, "num_items", items.num_items);
    WriteIntAttr(f, "num_categories", items.num_categories);
    RP_REQUIRE(H5Fflush(f, H5F_SCOPE_GLOBAL) >= 0, StatusCode::kIoError, "cannot flush '{}'", tmp_);
    impl_.reset();
  }
  CommitTempFile(tmp_, path_);
  finished_ = true;
}

// ------------------------------------------------------------------------------------------
struct PreparedReader::Impl {
  Handle file;
};

namespace {

Handle OpenDataset(hid_t file, const std::string& name, const std::string& path) {
  RP_REQUIRE(H5Lexists(file, name.c_str(), H5P_DEFAULT) > 0 || name.find('/', 1) == std::string::npos ||
                 H5Lexists(file, name.substr(0, name.find('/', 1)).c_str(), H5P_DEFAULT) > 0,
             StatusCode::kDataError, "'{}' is missing group '{}' required by format version {}", path,
             name.substr(0, name.find('/', 1)), kFormatVersion);
  RP_REQUIRE(H5Lexists(file, name.c_str(), H5P_DEFAULT) > 0, StatusCode::kDataError,
             "'{}' is missing dataset '{}' required by format version {}", path, name, kFormatVersion);
  Handle d(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose);
  RP_REQUIRE(d.valid(), StatusCode::kDataError, "'{}': cannot open dataset '{}'", path, name);
  return d;
}

std::vector<hsize_t> Dims(hid_t dset) {
  Handle space(H5Dget_space(dset), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(std::max(rank, 0));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return dims;
}

template <typename T>
std::vector<T> ReadRange(hid_t file, const std::string& name, int64_t begin, int64_t end, const std::string& path,
                         int64_t* cols_out = nullptr) {
  Handle d = OpenDataset(file, name, path);
  std::vector<hsize_t> dims = Dims(d.get());
  RP_REQUIRE(!dims.empty(), StatusCode::kDataError, "'{}': dataset '{}' is a scalar", path, name);
  hsize_t cols = dims.size() > 1 ? dims[1] : 1;
  if (cols_out != nullptr) *cols_out = static_cast<int64_t>(cols);
  if (end < 0) end = static_cast<int64_t>(dims[0]);
  RP_REQUIRE(begin >= 0 && begin <= end && static_cast<hsize_t>(end) <= dims[0], StatusCode::kDataError,
             "'{}': rows [{}, {}) are outside dataset '{}' of {} rows", path, begin, end, name, dims[0]);
  std::vector<T> out(static_cast<size_t>(end - begin) * cols);
  if (out.empty()) return out;
  Handle fspace(H5Dget_space(d.get()), H5Sclose);
  hsize_t start[2] = {static_cast<hsize_t>(begin), 0};
  hsize_t count[2] = {static_cast<hsize_t>(end - begin), cols};
  H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
  Handle mspace(H5Screate_simple(static_cast<int>(dims.size()), count, nullptr), H5Sclose);
  RP_REQUIRE(H5Dread(d.get(), TypeOf<T>(), mspace.get(), fspace.get(), H5P_DEFAULT, out.data()) >= 0,
             StatusCode::kDataError, "'{}': reading '{}' rows [{}, {}) failed (corrupt or truncated file?)", path, name,
             begin, end);
  return out;
}

template <typename T>
std::vector<T> ReadAll(hid_t file, const std::string& name, const std::string& path, int64_t* cols = nullptr) {
  return ReadRange<T>(file, name, 0, -1, path, cols);
}

std::vector<std::string> BlobToStrings(const std::vector<uint8_t>& chars, const std::vector<int64_t>& offsets,
                                       const std::string& path, const std::string& what) {
  std::vector<std::string> out;
  for (size_t i = 0; i + 1 < offsets.size(); ++i) {
    RP_REQUIRE(offsets[i] <= offsets[i + 1] && offsets[i + 1] <= static_cast<int64_t>(chars.size()),
               StatusCode::kDataError, "'{}': {} offsets are inconsistent at entry {}", path, what, i);
    out.emplace_back(chars.begin() + offsets[i], chars.begin() + offsets[i + 1]);
  }
  return out;
}

}  // namespace

PreparedReader::PreparedReader(const std::string& path, bool load_raw_ids)
    : impl_(std::make_unique<Impl>()), path_(path) {
  std::lock_guard<std::mutex> lock(hdf5::Mutex());
  hdf5::Quiet();
  std::error_code ec;
  RP_REQUIRE(std::filesystem::is_regular_file(path, ec), StatusCode::kIoError, "prepared dataset '{}' does not exist",
             path);
  RP_REQUIRE(H5Fis_hdf5(path.c_str()) > 0, StatusCode::kDataError,
             "'{}' is not an HDF5 file (expected a dataset written by recprism prepare)", path);
  impl_->file = Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  RP_REQUIRE(impl_->file.valid(), StatusCode::kIoError, "cannot open '{}' (corrupt or truncated HDF5 file?)", path);
  const hid_t f = impl_->file.get();
  std::string format;
  RP_REQUIRE(ReadStringAttr(f, "format", &format) && format == kFormatName, StatusCode::kDataError,
             "'{}' is not a RecPrism prepared dataset: root attribute 'format' is {} (expected '{}')", path,
             format.empty() ? "missing" : "'" + format + "'", kFormatName);
  int64_t version = 0;
  RP_REQUIRE(ReadIntAttr(f, "format_version", &version), StatusCode::kDataError,
             "'{}' has no 'format_version' attribute", path);
  RP_REQUIRE(version == kFormatVersion, StatusCode::kDataError,
             "'{}' has format version {}, but this build of RecPrism reads version {}; re-run recprism prepare "
             "with this build",
             path, version, kFormatVersion);
  metadata_.format_version = static_cast<int>(version);
  ReadStringAttr(f, "preset", &metadata_.preset);
  ReadStringAttr(f, "source", &metadata_.source);
  ReadStringAttr(f, "time_semantics", &metadata_.time_semantics);
  ReadStringAttr(f, "created_at", &metadata_.created_at);
  ReadStringAttr(f, "recprism_version", &metadata_.recprism_version);
  ReadStringAttr(f, "params", &metadata_.params);
  std::string text;
  if (ReadStringAttr(f, "source_files", &text)) {
    for (const auto& line : SplitLines(text, '\n')) {
      auto parts = SplitLines(line, '\t');
      SourceFile s;
      s.path = parts.size() > 0 ? parts[0] : "";
      s.md5 = parts.size() > 1 ? parts[1] : "";
      s.lines = parts.size() > 2 ? std::atoll(parts[2].c_str()) : 0;
      metadata_.sources.push_back(s);
    }
  }
  if (ReadStringAttr(f, "notes", &text)) metadata_.notes = SplitLines(text, '\n');

  // Interactions: every column present with one length.
  const std::string cols[8] = {"user", "item", "time", "event", "click", "conversion", "value", "split"};
  for (const auto& c : cols) {
    Handle d = OpenDataset(f, "/interactions/" + c, path);
    auto dims = Dims(d.get());
    int64_t n = dims.empty() ? -1 : static_cast<int64_t>(dims[0]);
    if (&c == &cols[0]) num_rows_ = n;
    RP_REQUIRE(n == num_rows_, StatusCode::kDataError,
               "'{}': /interactions/{} has {} rows but /interactions/user has {}", path, c, n, num_rows_);
  }
  Handle inter(H5Gopen2(f, "interactions", H5P_DEFAULT), H5Gclose);
  if (ReadStringAttr(inter.get(), "cat_feature_names", &text)) {
    metadata_.cat_feature_names = SplitLines(text, '\n');
    metadata_.cat_feature_cardinality = ReadAll<int64_t>(f, "/interactions/cat_feature_cardinality", path);
    Handle d = OpenDataset(f, "/interactions/cat_features", path);
    auto dims = Dims(d.get());
    RP_REQUIRE(dims.size() == 2 && static_cast<int64_t>(dims[0]) == num_rows_ &&
                   dims[1] == metadata_.cat_feature_names.size(),
               StatusCode::kDataError, "'{}': /interactions/cat_features must be [{} x {}]", path, num_rows_,
               metadata_.cat_feature_names.size());
  }
  if (ReadStringAttr(inter.get(), "num_feature_names", &text)) {
    metadata_.num_feature_names = SplitLines(text, '\n');
    Handle d = OpenDataset(f, "/interactions/num_features", path);
    auto dims = Dims(d.get());
    RP_REQUIRE(dims.size() == 2 && static_cast<int64_t>(dims[0]) == num_rows_ &&
                   dims[1] == metadata_.num_feature_names.size(),
               StatusCode::kDataError, "'{}': /interactions/num_features must be [{} x {}]", path, num_rows_,
               metadata_.num_feature_names.size());
  }

  // Users.
  users_.offsets = ReadAll<int64_t>(f, "/users/offsets", path);
  RP_REQUIRE(!users_.offsets.empty() && users_.offsets.front() == 0 && users_.offsets.back() == num_rows_,
             StatusCode::kDataError, "'{}': /users/offsets must run from 0 to the row count {}", path, num_rows_);
  for (size_t u = 0; u + 1 < users_.offsets.size(); ++u) {
    RP_REQUIRE(users_.offsets[u] <= users_.offsets[u + 1], StatusCode::kDataError,
               "'{}': /users/offsets decreases at user {}", path, u);
  }
  users_.num_users = static_cast<int64_t>(users_.offsets.size()) - 1;
  users_.split_rows = ReadAll<int64_t>(f, "/users/split_rows", path);
  RP_REQUIRE(static_cast<int64_t>(users_.split_rows.size()) == users_.num_users * kNumSplits, StatusCode::kDataError,
             "'{}': /users/split_rows must be [{} x 3]", path, users_.num_users);
  if (load_raw_ids) {
    users_.raw_id = BlobToStrings(ReadAll<uint8_t>(f, "/users/raw_id_chars", path),
                                  ReadAll<int64_t>(f, "/users/raw_id_offsets", path), path, "/users/raw_id");
  } else {
    OpenDataset(f, "/users/raw_id_chars", path);  // still required by the format
  }
  Handle ug(H5Gopen2(f, "users", H5P_DEFAULT), H5Gclose);
  if (ReadStringAttr(ug.get(), "feature_names", &text)) {
    users_.feature_names = SplitLines(text, '\n');
    int64_t width = 0;
    users_.features = ReadAll<int64_t>(f, "/users/features", path, &width);
    users_.feature_cardinality = ReadAll<int64_t>(f, "/users/feature_cardinality", path);
    RP_REQUIRE(width == static_cast<int64_t>(users_.feature_names.size()) &&
                   static_cast<int64_t>(users_.features.size()) == users_.num_users * width,
               StatusCode::kDataError, "'{}': /users/features must be [{} x {}]", path, users_.num_users,
               users_.feature_names.size());
  }

  // Items.
  const std::vector<int64_t> item_id_offsets = ReadAll<int64_t>(f, "/items/raw_id_offsets", path);
  RP_REQUIRE(!item_id_offsets.empty(), StatusCode::kDataError, "'{}': /items/raw_id_offsets is empty", path);
  items_.num_items = static_cast<int64_t>(item_id_offsets.size()) - 2;
  if (load_raw_ids) {
    items_.raw_id = BlobToStrings(ReadAll<uint8_t>(f, "/items/raw_id_chars", path), item_id_offsets, path,
                                  "/items/raw_id");
  }
  items_.category_offsets = ReadAll<int64_t>(f, "/items/category_offsets", path);
  items_.category_values = ReadAll<int64_t>(f, "/items/category_values", path);
  items_.popularity = ReadAll<int64_t>(f, "/items/popularity", path);
  RP_REQUIRE(static_cast<int64_t>(items_.category_offsets.size()) == items_.num_items + 2 &&
                 static_cast<int64_t>(items_.popularity.size()) == items_.num_items + 1,
             StatusCode::kDataError, "'{}': /items tables disagree on the item count {}", path, items_.num_items);
  int64_t ncat = 1;
  ReadIntAttr(f, "num_categories", &ncat);
  items_.num_categories = ncat;
}

PreparedReader::~PreparedReader() {
  std::lock_guard<std::mutex> lock(hdf5::Mutex());
  impl_.reset();
}

Rows PreparedReader::ReadRows(int64_t begin, int64_t end) const {
  std::lock_guard<std::mutex> lock(hdf5::Mutex());
  const hid_t f = impl_->file.get();
  Rows r;
  r.user = ReadRange<int64_t>(f, "/interactions/user", begin, end, path_);
  r.item = ReadRange<int64_t>(f, "/interactions/item", begin, end, path_);
  r.time = ReadRange<int64_t>(f, "/interactions/time", begin, end, path_);
  r.event = ReadRange<uint8_t>(f, "/interactions/event", begin, end, path_);
  r.click = ReadRange<uint8_t>(f, "/interactions/click", begin, end, path_);
  r.conversion = ReadRange<uint8_t>(f, "/interactions/conversion", begin, end, path_);
  r.value = ReadRange<float>(f, "/interactions/value", begin, end, path_);
  r.split = ReadRange<uint8_t>(f, "/interactions/split", begin, end, path_);
  if (!metadata_.cat_feature_names.empty()) {
    int64_t w = 0;
    r.cat_features = ReadRange<int64_t>(f, "/interactions/cat_features", begin, end, path_, &w);
    r.num_cat_features = static_cast<int>(w);
  }
  if (!metadata_.num_feature_names.empty()) {
    int64_t w = 0;
    r.num_features = ReadRange<float>(f, "/interactions/num_features", begin, end, path_, &w);
    r.num_num_features = static_cast<int>(w);
  }
  return r;
}

std::vector<uint8_t> PreparedReader::ReadU8Column(const std::string& name, int64_t begin, int64_t end) const {
  std::lock_guard<std::mutex> lock(hdf5::Mutex());
  return ReadRange<uint8_t>(impl_->file.get(), "/interactions/" + name, begin, end, path_);
}

std::vector<std::string> PreparedReader::DescribeSchema() const {
  std::lock_guard<std::mutex> lock(hdf5::Mutex());
  std::vector<std::string> out;
  struct Ctx {
    std::vector<std::string>* out;
  } ctx{&out};
#if H5_VERSION_GE(1, 12, 0)
  using ObjInfo = H5O_info2_t;
#define RP_H5OVISIT H5Ovisit3
#else
  using ObjInfo = H5O_info_t;
#define RP_H5OVISIT H5Ovisit2
#endif
  RP_H5OVISIT(
      impl_->file.get(), H5_INDEX_NAME, H5_ITER_INC,
      [](hid_t obj, const char* name, const ObjInfo* info, void* data) -> herr_t {
        if (info->type != H5O_TYPE_DATASET) return 0;
        auto* c = static_cast<Ctx*>(data);
        Handle d(H5Dopen2(obj, name, H5P_DEFAULT), H5Dclose);
        Handle type(H5Dget_type(d.get()), H5Tclose);
        std::string tname = H5Tget_class(type.get()) == H5T_FLOAT ? "float" : "int";
        tname += std::to_string(H5Tget_size(type.get()) * 8);
        if (H5Tget_class(type.get()) == H5T_INTEGER && H5Tget_sign(type.get()) == H5T_SGN_NONE) tname = "u" + tname;
        auto dims = Dims(d.get());
        std::string shape;
        for (size_t i = 0; i < dims.size(); ++i) shape += (i ? " x " : "") + std::to_string(dims[i]);
        Handle plist(H5Dget_create_plist(d.get()), H5Pclose);
        std::string layout;
        if (H5Pget_layout(plist.get()) == H5D_CHUNKED) {
          hsize_t chunk[2] = {0, 0};
          int r = H5Pget_chunk(plist.get(), 2, chunk);
          layout = " chunk " + std::to_string(chunk[0]) + (r > 1 ? " x " + std::to_string(chunk[1]) : "");
          if (H5Pget_nfilters(plist.get()) > 0) layout += ", shuffle+gzip";
        }
        c->out->push_back(std::string("/") + name + "  " + tname + " [" + shape + "]" + layout);
        return 0;
      },
      &ctx, H5O_INFO_BASIC);
  return out;
}

}  // namespace recprism::data
