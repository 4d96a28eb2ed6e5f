// Line-oriented reading of plain or gzip-compressed text files (zlib reads both), with line
// numbers for error messages, a UTF-8 byte-order mark dropped from the first line, an MD5 of the decompressed content, and detection of truncated or
// corrupt gzip streams.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace recprism::data {

// Per-block MD5s of a byte stream, for a checksum that any number of readers can compute together:
// block k covers bytes [k * kBlock, (k + 1) * kBlock). A hasher keeps the blocks whose index is
// `which` modulo `every`; FileChecksum combines every block's digest, whoever computed it, into the
// same value: the MD5 of the blocks' hex MD5s concatenated in order. In Python:
//   md5("".join(md5(data[i:i + 2**24]).hexdigest() for i in range(0, len(data), 2**24)))
class BlockHasher {
 public:
  static constexpr int64_t kBlock = int64_t{1} << 24;
  BlockHasher(int every = 1, int which = 0) : every_(every), which_(which) {}
  // Bytes [offset, offset + n) of the stream; calls come in increasing, contiguous offsets for the
  // blocks this hasher keeps (a call may start mid-block only where an earlier call ended).
  void Update(int64_t offset, const char* data, size_t n);
  // The digests of the kept blocks (the last may be short), as (block index, hex MD5).
  std::vector<std::pair<int64_t, std::string>> Finish();

 private:
  struct Open;
  int every_, which_;
  int64_t block_ = -1;
  std::shared_ptr<Open> open_;
  std::vector<std::pair<int64_t, std::string>> done_;
};
// Every block's digest, in any order, with no index missing or repeated -> the file's checksum.
std::string FileChecksum(std::vector<std::pair<int64_t, std::string>> blocks);

class LineReader {
 public:
  // Throws Error(kIoError) naming the path when it cannot be opened.
  explicit LineReader(const std::string& path);
  // The lines of a plain (uncompressed) file that start in bytes [begin, end): `begin` must be a
  // line start; the last line may run past `end`. line_number() continues from `lines_before`.
  // Nothing is hashed (Md5Hex is empty).
  LineReader(const std::string& path, int64_t begin, int64_t end, int64_t lines_before);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // Next line without its newline (and without a trailing '\r'). Returns false at the end of
  // the file. Throws Error(kDataError) on a truncated or corrupt gzip stream, naming the path and
  // the last line read.
  bool Next(std::string* line);
  // 1-based number of the line last returned.
  int64_t line_number() const { return line_; }
  const std::string& path() const { return path_; }
  // Byte offset (in the decompressed content) just past the last line returned and its newline.
  int64_t offset() const { return offset_; }
  // MD5 of every byte read so far (the decompressed content). Complete after Next returned false.
  std::string Md5Hex();
  // Instead of the MD5: hash the blocks `which` modulo `every` (BlockHasher). Call before the first
  // Next; BlockDigests is complete after Next returned false.
  void HashBlocks(int every, int which);
  std::vector<std::pair<int64_t, std::string>> BlockDigests();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
  int64_t line_ = 0;
  int64_t offset_ = 0;
  int64_t end_ = -1;  // range readers: lines starting at or after it are not returned
};

// Byte ranges of a plain text file that own whole lines (the usual rule of split readers: a range
// owns the lines that start in it), so N readers can share one file.
struct LineRange {
  int64_t begin = 0, end = 0;  // first line start at or after `from`, and at or after `to`
  int64_t lines = 0;           // lines that start in [begin, end) (the last may lack its newline)
  int64_t quotes = 0;          // '"' bytes in [begin, end)
};
// `from` and `to` are byte offsets in [1, size] of the file at `path` (`size` bytes); byte from - 1
// is read to tell whether `from` is a line start.
LineRange ScanLineRange(const std::string& path, int64_t from, int64_t to, int64_t size);
// BlockHasher digests of the blocks k of a plain file whose first byte k * kBlock is in [from, to).
std::vector<std::pair<int64_t, std::string>> HashFileBlocks(const std::string& path, int64_t from, int64_t to,
                                                            int64_t size);
// Size in bytes; whether the file starts with the gzip magic bytes.
int64_t FileSize(const std::string& path);
bool IsGzipFile(const std::string& path);

// Splits on a delimiter character or a separator string ("::"), keeping empty fields.
void SplitFields(std::string_view line, char delimiter, std::vector<std::string_view>* fields);
void SplitFields(std::string_view line, std::string_view separator, std::vector<std::string_view>* fields);

// CSV as the world writes it (RFC 4180): a field may be quoted ("Bonn, DE"), a quote inside a
// quoted field is doubled ("say ""hi"""), and a quoted field may hold the delimiter and newlines.
// A quote inside an unquoted field is an ordinary character (as Python's csv and pandas read it).
// A record without a quote takes the plain split, so an unquoted file costs one memchr per line.
class CsvSplitter {
 public:
  enum class Result { kOk, kOpenQuote, kTextAfterQuote };
  // Splits one record (without its final newline) on `delimiter`, keeping empty fields. Quoted
  // fields lose their quotes and their doubled quotes; their views point into this splitter's
  // buffer, valid until the next call; the others point into `record`. kOpenQuote: a quoted field
  // is still open at the end; kTextAfterQuote: a closing quote is followed by something other than
  // the delimiter (`"ab"c`). The fields are unspecified unless kOk.
  Result Split(std::string_view record, char delimiter, std::vector<std::string_view>* fields);
  // Why a result other than kOk is malformed, for error messages.
  static const char* Explain(Result r);

 private:
  std::string unquoted_;
};

// True when a quoted field of `record` is still open at its end: the record continues on the next
// line (RFC 4180 allows newlines inside quotes).
bool QuoteOpenAtEnd(std::string_view record, char delimiter);

// Reads the next non-empty CSV record into *record: a line, joined ('\n') with the lines after it
// while a quoted field is open. *first_line is the record's first line number (for messages).
// Returns false at the end of the file. Throws Error(kDataError) naming the path and the first line
// when a quoted field is never closed (at the end of the file, or past kMaxCsvRecordBytes).
constexpr size_t kMaxCsvRecordBytes = size_t{16} << 20;
bool ReadCsvRecord(LineReader& in, char delimiter, std::string* record, int64_t* first_line);

// Strict integer/float parsing of a whole field (no trailing garbage).
bool ParseInt64(std::string_view s, int64_t* out);
bool ParseFloat(std::string_view s, double* out);

// At most `max` bytes of a line, for error messages, with "..." when cut. Control bytes other
// than tab, and invalid UTF-8, are escaped (\x01), so a binary file never writes raw bytes to a
// terminal; tabs and valid UTF-8 are kept.
std::string Excerpt(std::string_view line, size_t max = 120);

}  // namespace recprism::data
