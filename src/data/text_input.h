// Line-oriented reading of plain or gzip-compressed text files (zlib reads both), with line
// numbers for error messages, a UTF-8 byte-order mark dropped from the first line, an MD5 of the decompressed content, and detection of truncated or
// corrupt gzip streams.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace recprism::data {

class LineReader {
 public:
  // Throws Error(kIoError) naming the path when it cannot be opened.
  explicit LineReader(const std::string& path);
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
  // MD5 of every byte read so far (the decompressed content). Complete after Next returned false.
  std::string Md5Hex();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
  int64_t line_ = 0;
};

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
