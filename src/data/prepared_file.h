// Reading and writing prepared datasets (HDF5; layout in docs/data-format.md).
//
// HDF5 calls are serialised by one process-wide mutex (data/hdf5_util.h; Debian's libhdf5 is not built
// thread-safe), so a prefetch thread may read while other threads work.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/format.h"

namespace recprism::data {

// Streams rows into a new prepared file. Everything goes to "<path>.tmp.<pid>" and is renamed
// to path by Finish, so a failed prepare never leaves a half-written file where a good one stood;
// destroying an unfinished writer deletes the temporary file.
class PreparedWriter {
 public:
  PreparedWriter(const std::string& path, const Metadata& metadata, size_t chunk_rows = 1 << 16);
  ~PreparedWriter();
  PreparedWriter(const PreparedWriter&) = delete;
  PreparedWriter& operator=(const PreparedWriter&) = delete;

  // Appends rows (already in (user, time) order, continuing the previous block).
  void AppendRows(const Rows& rows);
  int64_t rows_written() const { return rows_; }
  // Appends notes known only after the rows (written with the metadata by Finish).
  void AddNotes(const std::vector<std::string>& notes) {
    metadata_.notes.insert(metadata_.notes.end(), notes.begin(), notes.end());
  }
  // Writes the side tables and metadata, closes, and renames into place.
  void Finish(const UserTable& users, const ItemTable& items);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_, tmp_;
  Metadata metadata_;
  int64_t rows_ = 0;
  bool finished_ = false;
};

// A prepared file opened for reading. The constructor validates the format name and version and
// that every dataset the version requires exists with consistent lengths; errors name the file
// and what is wrong (Error(kDataError), or kIoError when the file cannot be opened).
// Side tables are loaded eagerly (they are small); rows are read by range.
class PreparedReader {
 public:
  // load_raw_ids = false leaves users().raw_id and items().raw_id empty (the loader does not need
  // the source's id strings; at millions of users they are the largest side table).
  explicit PreparedReader(const std::string& path, bool load_raw_ids = true);
  ~PreparedReader();
  PreparedReader(const PreparedReader&) = delete;
  PreparedReader& operator=(const PreparedReader&) = delete;

  const std::string& path() const { return path_; }
  int64_t num_rows() const { return num_rows_; }
  const UserTable& users() const { return users_; }
  const ItemTable& items() const { return items_; }
  const Metadata& metadata() const { return metadata_; }

  // Rows [begin, end), features included.
  Rows ReadRows(int64_t begin, int64_t end) const;
  // One uint8 interaction column ("click", "conversion", "split", "event") over [begin, end).
  std::vector<uint8_t> ReadU8Column(const std::string& name, int64_t begin, int64_t end) const;
  // "name dtype [dims] chunk/filter" lines describing every dataset in the file.
  std::vector<std::string> DescribeSchema() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
  int64_t num_rows_ = 0;
  UserTable users_;
  ItemTable items_;
  Metadata metadata_;
};

}  // namespace recprism::data
