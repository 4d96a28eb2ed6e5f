// Rank-aware logging facade. spdlog stays behind this header (only log.cc includes it).
//
// Every line carries "rank r/w". After Init: rank 0 prints at the configured level to stderr;
// other ranks print WARN and above unless LogOptions::all_ranks. Files added with AddFile
// receive every line at the configured level from this rank. Before Init, lines go to stderr
// tagged "rank ?". Thread-safe.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

#include "core/options.h"

namespace recprism::log {

enum class Level { kTrace = 0, kDebug, kInfo, kWarn, kError, kOff };

// Parses trace|debug|info|warn|error|off; throws Error(kInvalidArgument) otherwise.
Level ParseLevel(std::string_view name);

void Init(int rank, int world_size, const LogOptions& options);
// Adds a file sink for this rank (parent directories are created). Throws Error(kIoError).
void AddFile(const std::string& path);
bool Enabled(Level level);
void Write(Level level, std::string_view message);
void Flush();

}  // namespace recprism::log

#define RP_LOG_AT(lvl, ...)                                                              \
  do {                                                                                   \
    if (::recprism::log::Enabled(lvl)) ::recprism::log::Write(lvl, ::fmt::format(__VA_ARGS__)); \
  } while (0)
#define RP_LOG_DEBUG(...) RP_LOG_AT(::recprism::log::Level::kDebug, __VA_ARGS__)
#define RP_LOG_INFO(...) RP_LOG_AT(::recprism::log::Level::kInfo, __VA_ARGS__)
#define RP_LOG_WARN(...) RP_LOG_AT(::recprism::log::Level::kWarn, __VA_ARGS__)
#define RP_LOG_ERROR(...) RP_LOG_AT(::recprism::log::Level::kError, __VA_ARGS__)
