#include "data/presets_parsers.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "data/presets_util.h"

namespace recprism::data::preset {
namespace {

// ---------------------------------------------------------------- generic
char Delimiter(const std::string& name, const std::string& first_line) {
  if (name == "tab") return '\t';
  if (name == "comma") return ',';
  if (name == "semicolon") return ';';
  if (name == "pipe") return '|';
  if (name == "space") return ' ';
  for (char c : {'\t', ',', ';', '|'}) {
    if (first_line.find(c) != std::string::npos) return c;
  }
  return ' ';
}

// A generic input path: ~ expanded, relative paths also tried under the mirror, `.gz` appended
// when only the compressed file exists.
std::string GenericPath(const DataOptions& o, const std::string& file) {
  std::string path = ExpandUser(file);
  if (std::filesystem::path(path).is_relative() && !MirrorDir(o).empty() && !std::filesystem::exists(path)) {
    path = MirrorDir(o) + "/" + path;
  }
  if (!std::filesystem::exists(path) && std::filesystem::exists(path + ".gz")) path += ".gz";
  return path;
}

RawLog ParseGenericSequences(const DataOptions& o, const std::string& spill_dir) {
  const GenericMapping& g = o.generic;
  const std::pair<const char*, bool> rows_only[] = {
      {"user", !g.user.empty()},         {"item", !g.item.empty()},     {"time", !g.time.empty()},
      {"event", !g.event.empty()},       {"click", !g.click.empty()},   {"conversion", !g.conversion.empty()},
      {"value", !g.value.empty()},       {"category", !g.category.empty()},
      {"categorical", !g.categorical.empty()}, {"numeric", !g.numeric.empty()}};
  for (const auto& [key, set] : rows_only) {
    RP_REQUIRE(!set, StatusCode::kInvalidConfig,
               "data.generic.{} maps a column, but data.generic.layout is 'sequences' (`user item item ...`, no "
               "columns); remove it or use layout: rows",
               key);
  }
  RawLog log;
  log.EnableSpill(spill_dir, o.memory_budget_mb);
  BadRows bad(o, &log);
  const std::string path = GenericPath(o, g.path);
  log.source = "generic sequences " + path + " (one user per line, items in chronological order)";
  log.notes.push_back("generic sequences: every item of a user's line is a positive (click = 1, conversion = 0, event "
                      "= click); time is the position in the sequence; negatives are sampled");
  char delim = g.delimiter == "tab" ? '\t' : g.delimiter == "comma" ? ',' : g.delimiter == "semicolon" ? ';'
             : g.delimiter == "pipe" ? '|' : ' ';  // auto and space: runs of blanks or tabs
  SequenceReader seq(log, bad, /*conversion=*/0, /*integer_ids=*/false);
  LineReader reader(path);
  std::string line;
  while (reader.Next(&line)) {
    if (line.empty()) continue;
    seq.Line(reader, line, delim);
    log.MaybeSpill();
  }
  log.sources.push_back(SourceFile{path, reader.Md5Hex(), reader.line_number()});
  if (!g.item_attributes.empty()) {
    const std::string apath = GenericPath(o, g.item_attributes);
    LineReader ar(apath);
    std::string text;
    while (ar.Next(&line)) text += line + "\n";
    log.sources.push_back(SourceFile{apath, ar.Md5Hex(), ar.line_number()});
    const int64_t unknown = ParseItemAttributes(text, apath, log);
    log.notes.push_back(fmt::format("generic sequences: item categories are the attributes in {}{}", apath,
                                    unknown > 0 ? fmt::format(" ({} entries for items without interactions ignored)",
                                                              unknown)
                                                : ""));
  }
  return log;
}

// One parsed line of a generic log: numbers parsed and checked, ids still text (in the batch's
// arena, interned later in order on the consuming thread).
struct ParsedRow {
  int64_t line_number = 0;
  std::string error, line;  // a malformed line: why, and the line itself
  int64_t time = 0;
  uint8_t click = 1, conversion = 0;
  Event event = Event::kClick;
  float value = 0;
  uint32_t text_begin = 0;  // the row's id fields in the batch's offsets: user, item, [category], categorical...
};
struct ParsedBatch {
  std::vector<ParsedRow> rows;
  std::string text;
  std::vector<uint32_t> offsets;  // field k of the batch: text[offsets[2k], offsets[2k+1])
  std::vector<float> nums;        // numeric features of the good rows, in order
  std::exception_ptr failure;     // the reader failed (corrupt gzip): rethrown in order
  bool last = false;
};

// The column mapping of a generic log, resolved against its header.
struct GenericColumns {
  char delim = ',';
  size_t width = 0;
  int user = -1, item = -1, time = -1, event = -1, click = -1, conversion = -1, value = -1, category = -1;
  std::vector<int> categorical, numeric;
  std::set<std::string> click_events, conversion_events;
};

// Parses and checks one data line (no shared state: runs on the reader thread).
void ParseGenericLine(const GenericMapping& g, const GenericColumns& c, const std::string& line, int64_t line_number,
                      CsvSplitter& splitter, std::vector<std::string_view>& f, ParsedBatch* batch) {
  ParsedRow row;
  row.line_number = line_number;
  auto fail = [&](std::string why) {
    row.error = std::move(why);
    row.line = line;
    batch->rows.push_back(std::move(row));
  };
  const auto shape = splitter.Split(line, c.delim, &f);
  if (shape != CsvSplitter::Result::kOk) return fail(CsvSplitter::Explain(shape));
  if (f.size() != c.width) return fail(fmt::format("expected {} fields, found {}", c.width, f.size()));
  if (c.time >= 0 && !ParseInt64(f[c.time], &row.time)) {
    double d;
    // from_chars also refuses a number too large for a double: then it is not a timestamp either.
    if (!ParseFloat(f[c.time], &d)) return fail(fmt::format("time '{}' is not a unix timestamp", Excerpt(f[c.time], 40)));
    // ParseInt64 refused it: fractional seconds are truncated, anything beyond int64 is refused.
    if (!(d >= -9.2e18 && d <= 9.2e18)) {
      return fail(fmt::format("time '{}' does not fit a 64-bit unix timestamp", Excerpt(f[c.time], 40)));
    }
    row.time = static_cast<int64_t>(d);
  }
  if (c.event >= 0) {
    std::string e = Trim(f[c.event]);
    row.conversion = c.conversion_events.count(e) ? 1 : 0;
    row.click = (c.click_events.count(e) || row.conversion) ? 1 : 0;  // a conversion event implies the click before it
    row.event = row.conversion ? Event::kPurchase : row.click ? Event::kClick : Event::kImpression;
  }
  int64_t v;
  if (c.click >= 0) {
    if (!ParseInt64(f[c.click], &v) || (v != 0 && v != 1)) {
      return fail(fmt::format("click '{}' is not 0 or 1", Excerpt(f[c.click], 40)));
    }
    row.click = static_cast<uint8_t>(v);
    row.event = row.click ? Event::kClick : Event::kImpression;
  }
  if (c.conversion >= 0) {
    if (!ParseInt64(f[c.conversion], &v) || (v != 0 && v != 1)) {
      return fail(fmt::format("conversion '{}' is not 0 or 1", Excerpt(f[c.conversion], 40)));
    }
    row.conversion = static_cast<uint8_t>(v);
    if (row.conversion) row.event = Event::kPurchase;
  }
  if (row.conversion && !row.click) return fail("conversion without click");
  double value = 0;
  if (c.value >= 0 && !TrimView(f[c.value]).empty() && !ParseFloat(f[c.value], &value)) {
    return fail(fmt::format("value '{}' is not a number", Excerpt(f[c.value], 40)));
  }
  if (!FitsFloat(value)) return fail(fmt::format("value '{}' does not fit a 32-bit float", Excerpt(f[c.value], 40)));
  row.value = static_cast<float>(value);
  const size_t nums_before = batch->nums.size();
  for (size_t k = 0; k < c.numeric.size(); ++k) {
    double d;
    if (!ParseFloat(f[c.numeric[k]], &d) || !FitsFloat(d)) {
      batch->nums.resize(nums_before);
      return fail(fmt::format("numeric column '{}' has '{}' (expected a number that fits a 32-bit float)", g.numeric[k],
                              Excerpt(f[c.numeric[k]], 40)));
    }
    batch->nums.push_back(static_cast<float>(d));
  }
  const std::string_view us = TrimView(f[c.user]), is = TrimView(f[c.item]);
  if (us.empty() || is.empty()) {
    batch->nums.resize(nums_before);
    return fail("empty user or item id");
  }
  row.text_begin = static_cast<uint32_t>(batch->offsets.size() / 2);
  auto add = [&](std::string_view field) {
    batch->offsets.push_back(static_cast<uint32_t>(batch->text.size()));
    batch->text.append(field);
    batch->offsets.push_back(static_cast<uint32_t>(batch->text.size()));
  };
  add(us);
  add(is);
  if (c.category >= 0) add(f[c.category]);
  for (int k : c.categorical) add(TrimView(f[k]));
  batch->rows.push_back(std::move(row));
}

// Reads and parses the lines after the header on a thread of its own, in batches, while the
// caller interns ids and appends rows: the two halves of parsing run on two cores.
class GenericLineReader {
 public:
  GenericLineReader(LineReader& reader, const GenericMapping& g, const GenericColumns& c)
      : reader_(reader), g_(g), c_(c), thread_([this] { Run(); }) {}
  ~GenericLineReader() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  // The next batch, in file order; the last one has last = true.
  ParsedBatch Next() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !queue_.empty(); });
    ParsedBatch b = std::move(queue_.front());
    queue_.pop_front();
    cv_.notify_all();
    return b;
  }

 private:
  bool Push(ParsedBatch&& b) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return stop_ || queue_.size() < 4; });
    if (stop_) return false;
    queue_.push_back(std::move(b));
    cv_.notify_all();
    return true;
  }
  void Run() {
    ParsedBatch batch;
    batch.rows.reserve(8192);
    std::vector<std::string_view> f;
    CsvSplitter splitter;
    std::string line;
    int64_t line_number = 0;
    try {
      while (ReadCsvRecord(reader_, c_.delim, &line, &line_number)) {
        ParseGenericLine(g_, c_, line, line_number, splitter, f, &batch);
        if (batch.rows.size() >= 8192) {
          if (!Push(std::move(batch))) return;
          batch = ParsedBatch();
          batch.rows.reserve(8192);
        }
      }
    } catch (...) {
      batch.failure = std::current_exception();
    }
    batch.last = true;
    Push(std::move(batch));
  }

  LineReader& reader_;
  const GenericMapping& g_;
  const GenericColumns& c_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ParsedBatch> queue_;
  bool stop_ = false;
  std::thread thread_;  // last: starts once the rest is constructed
};

}  // namespace

RawLog ParseGeneric(const DataOptions& o, const std::string& spill_dir) {
  const GenericMapping& g = o.generic;
  RP_REQUIRE(!g.path.empty(), StatusCode::kInvalidConfig, "data.dataset is 'generic' but data.generic.path is empty");
  if (g.layout == "sequences") return ParseGenericSequences(o, spill_dir);
  RP_REQUIRE(g.item_attributes.empty(), StatusCode::kInvalidConfig,
             "data.generic.item_attributes is set, but data.generic.layout is 'rows': item attributes come with the "
             "sequences layout; map a category column with data.generic.category instead");
  RP_REQUIRE(!g.user.empty() && !g.item.empty(), StatusCode::kInvalidConfig,
             "data.dataset is 'generic': data.generic.user and data.generic.item must name columns");
  RawLog log;
  BadRows bad(o, &log);
  const std::string path = GenericPath(o, g.path);
  log.source = "generic log " + path;
  log.time_semantics = g.time.empty() ? "order" : "unix_seconds";
  const bool has_labels = !g.click.empty() || !g.event.empty();
  log.implicit = !has_labels;
  GenericColumns c;
  c.click_events.insert(g.click_events.begin(), g.click_events.end());
  c.conversion_events.insert(g.conversion_events.begin(), g.conversion_events.end());
  std::map<std::string, int> col;  // column name -> index
  std::vector<int64_t> order;      // per user: rows so far (the time when there is no time column)
  int64_t non_click_rows = 0;      // logged exposures without a click
  LineReader reader(path);
  std::string line;
  auto resolve = [&](const std::string& name, const char* key) -> int {
    if (name.empty()) return -1;
    if (!g.header) {
      int64_t idx;
      RP_REQUIRE(ParseInt64(name, &idx) && idx >= 0, StatusCode::kInvalidConfig,
                 "data.generic.{} = '{}': with data.generic.header false, columns are 0-based indices", key, name);
      return static_cast<int>(idx);
    }
    auto it = col.find(name);
    if (it == col.end()) {
      std::string names;
      for (const auto& [n, i] : col) names += (names.empty() ? "" : ", ") + Excerpt(n, 60);
      RP_THROW(StatusCode::kDataError, "{}: data.generic.{} names column '{}', which the header does not have (columns: {})",
               path, key, name, names);
    }
    return it->second;
  };
  // Interns a parsed row's ids and appends it (in file order, on this thread).
  auto commit = [&](const ParsedBatch& b, const ParsedRow& row, const float*& nums) {
    if (!row.error.empty()) return bad.Report(reader.path(), row.line_number, row.line, row.error);
    if (log.spill && static_cast<int64_t>(log.size()) >= log.spill->budget_rows()) log.spill->Take(log);
    uint32_t k = row.text_begin;
    auto field = [&] {
      std::string_view v(b.text.data() + b.offsets[2 * k], b.offsets[2 * k + 1] - b.offsets[2 * k]);
      ++k;
      return v;
    };
    const int64_t u = log.users.Intern(field()), i = log.items.Intern(field());
    int64_t t = row.time;
    if (c.time < 0) {
      if (order.size() <= static_cast<size_t>(u)) order.resize(u + 1, 0);
      t = order[u]++;
    }
    if (c.category >= 0) {
      const std::string_view cat_text = field();
      if (!log.item_categories.count(i)) {
        std::vector<std::string_view> cats;
        SplitFields(cat_text, '|', &cats);
        std::vector<int64_t> ids;
        for (auto cat : cats) if (!TrimView(cat).empty()) ids.push_back(log.CategoryId(TrimView(cat)));
        log.item_categories[i] = ids;
      }
    }
    for (size_t j = 0; j < c.categorical.size(); ++j) log.cat_features.push_back(log.cat_feature_vocab[j].Intern(field()) + 1);
    log.num_features.insert(log.num_features.end(), nums, nums + c.numeric.size());
    nums += c.numeric.size();
    non_click_rows += row.click == 0;
    log.Add(u, i, t, row.event, row.click, row.conversion, row.value, -1);
  };
  std::vector<std::string_view> f;
  while (reader.Next(&line)) {
    if (line.empty()) continue;
    // The first line: the header (or, with header: false, the first row).
    c.delim = Delimiter(g.delimiter, line);
    const int64_t first_line = reader.line_number();
    while (QuoteOpenAtEnd(line, c.delim)) {  // a quoted field with a newline in the first record
      std::string more;
      RP_REQUIRE(reader.Next(&more), StatusCode::kDataError, "{}:{}: a quoted field opened on this line is never closed",
                 path, first_line);
      line += '\n' + more;
    }
    CsvSplitter splitter;
    const auto shape = splitter.Split(line, c.delim, &f);
    RP_REQUIRE(shape == CsvSplitter::Result::kOk, StatusCode::kDataError, "{}:{}: {}: '{}'", path, first_line,
               CsvSplitter::Explain(shape), Excerpt(line));
    c.width = f.size();
    for (size_t k = 0; k < f.size(); ++k) col[Trim(f[k])] = static_cast<int>(k);
    c.user = resolve(g.user, "user");
    c.item = resolve(g.item, "item");
    c.time = resolve(g.time, "time");
    c.event = resolve(g.event, "event");
    c.click = resolve(g.click, "click");
    c.conversion = resolve(g.conversion, "conversion");
    c.value = resolve(g.value, "value");
    c.category = resolve(g.category, "category");
    std::vector<std::string> cn, nn;
    for (const auto& n : g.categorical) { c.categorical.push_back(resolve(n, "categorical")); cn.push_back(n); }
    for (const auto& n : g.numeric) { c.numeric.push_back(resolve(n, "numeric")); nn.push_back(n); }
    SetRowFeatures(log, cn, nn);
    if (!spill_dir.empty()) {
      // Rows beyond half the budget go to disk; the other half is for sorting a partition.
      const int64_t row_bytes = static_cast<int64_t>(RecordBytes(static_cast<int>(cn.size()), static_cast<int>(nn.size())));
      log.spill = std::make_shared<RowSpill>(spill_dir, o.memory_budget_mb * (int64_t{1} << 20) / 2 / row_bytes,
                                             static_cast<int>(cn.size()), static_cast<int>(nn.size()));
      log.spill->ReserveColumns(log);
    }
    if (!g.header) {
      ParsedBatch b;
      ParseGenericLine(g, c, line, first_line, splitter, f, &b);
      const float* nums = b.nums.data();
      commit(b, b.rows.front(), nums);
    }
    break;
  }
  {
    GenericLineReader lines(reader, g, c);
    for (;;) {
      ParsedBatch b = lines.Next();
      const float* nums = b.nums.data();
      for (const ParsedRow& row : b.rows) commit(b, row, nums);
      if (b.failure) std::rethrow_exception(b.failure);
      if (b.last) break;
    }
  }
  log.sources.push_back(SourceFile{path, reader.Md5Hex(), reader.line_number()});
  if (has_labels) {
    // Exposures: the logged non-click rows, or sampled ones when the log has none (views, carts
    // and purchases only), or as the user chose.
    log.implicit = g.exposures == "sampled" || (g.exposures == "auto" && non_click_rows == 0);
  } else if (g.exposures == "logged") {
    log.implicit = false;
  }
  if (!has_labels) {
    log.notes.push_back(log.implicit ? "generic: no click or event column, so every row is a positive (implicit "
                                       "feedback): click = 1, conversion = 0, negatives are sampled"
                                     : "generic: no click or event column and data.generic.exposures: logged, so every "
                                       "row is a click and none is sampled: the click rate is 1");
  } else {
    std::string how;
    if (c.event >= 0) {
      how = fmt::format("click = event '{}' in [{}] or a conversion; conversion = event in [{}]", g.event,
                        fmt::join(g.click_events, ", "), fmt::join(g.conversion_events, ", "));
    }
    if (c.click >= 0) how += fmt::format("{}click = column '{}' (0/1)", how.empty() ? "" : "; ", g.click);
    if (c.conversion >= 0) how += fmt::format("; conversion = column '{}' (0/1)", g.conversion);
    if (!log.implicit) {
      log.notes.push_back(fmt::format("generic: logged exposures ({} rows without a click), no negatives sampled; "
                                      "labels: {}",
                                      non_click_rows, how));
    } else if (g.exposures == "sampled") {
      log.notes.push_back(fmt::format("generic: non-click exposures sampled (data.generic.exposures: sampled; {} "
                                      "logged rows without a click kept as well); labels: {}",
                                      non_click_rows, how));
    } else {
      log.notes.push_back("generic: no row is a non-click exposure (every row is a click or a conversion), so non-click "
                          "exposures are sampled as for implicit feedback (data.generic.exposures: auto; 'logged' "
                          "keeps the log as it is); labels: " + how);
    }
  }
  if (c.value >= 0) log.notes.push_back(fmt::format("generic: value = column '{}'", g.value));
  return log;
}


}  // namespace recprism::data::preset
