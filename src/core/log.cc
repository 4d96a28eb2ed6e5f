#include "core/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <memory>
#include <mutex>

#include "core/check.h"

namespace recprism::log {
namespace {

spdlog::level::level_enum ToSpd(Level level) {
  switch (level) {
    case Level::kTrace: return spdlog::level::trace;
    case Level::kDebug: return spdlog::level::debug;
    case Level::kInfo: return spdlog::level::info;
    case Level::kWarn: return spdlog::level::warn;
    case Level::kError: return spdlog::level::err;
    case Level::kOff: return spdlog::level::off;
  }
  return spdlog::level::info;
}

struct State {
  std::mutex mu;
  std::shared_ptr<spdlog::logger> logger;
  std::string pattern;
  Level file_level = Level::kInfo;
};

State& GetState() {
  static State* state = [] {
    auto* s = new State();  // leaked on purpose: usable from atexit and other static destructors
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    s->pattern = "[%Y-%m-%d %H:%M:%S.%e] [rank ?] [%l] %v";
    s->logger = std::make_shared<spdlog::logger>("recprism", sink);
    s->logger->set_pattern(s->pattern);
    s->logger->set_level(spdlog::level::info);
    return s;
  }();
  return *state;
}

}  // namespace

Level ParseLevel(std::string_view name) {
  if (name == "trace") return Level::kTrace;
  if (name == "debug") return Level::kDebug;
  if (name == "info") return Level::kInfo;
  if (name == "warn") return Level::kWarn;
  if (name == "error") return Level::kError;
  if (name == "off") return Level::kOff;
  RP_THROW(StatusCode::kInvalidArgument,
           "log level '{}' is not one of trace, debug, info, warn, error, off", name);
}

void Init(int rank, int world_size, const LogOptions& options) {
  Level level = ParseLevel(options.level);
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mu);
  auto console = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  Level console_level = level;
  if (rank != 0 && !options.all_ranks && console_level < Level::kWarn) console_level = Level::kWarn;
  console->set_level(ToSpd(console_level));
  s.pattern = fmt::format("[%Y-%m-%d %H:%M:%S.%e] [rank {}/{}] [%l] %v", rank, world_size);
  s.file_level = level;
  s.logger = std::make_shared<spdlog::logger>("recprism", console);
  s.logger->set_pattern(s.pattern);
  s.logger->set_level(ToSpd(level));
  s.logger->flush_on(spdlog::level::warn);
}

void AddFile(const std::string& path) {
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mu);
  std::error_code ec;
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  std::shared_ptr<spdlog::sinks::basic_file_sink_mt> sink;
  try {
    sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/true);
  } catch (const spdlog::spdlog_ex& e) {
    RP_THROW(StatusCode::kIoError, "cannot open log file '{}': {}", path, e.what());
  }
  sink->set_level(ToSpd(s.file_level));
  sink->set_pattern(s.pattern);
  s.logger->sinks().push_back(sink);
}

bool Enabled(Level level) { return GetState().logger->should_log(ToSpd(level)); }

void Write(Level level, std::string_view message) {
  GetState().logger->log(ToSpd(level), "{}", message);
}

void Flush() { GetState().logger->flush(); }

}  // namespace recprism::log

namespace recprism::detail {
void CheckFailed(const char* file, int line, const char* cond, const std::string& msg) {
  log::Write(log::Level::kError,
             fmt::format("internal check failed at {}:{}: ({}) {}", file, line, cond, msg));
  log::Flush();
  std::abort();
}
}  // namespace recprism::detail
