// Check macros (STYLE.md §3). All are single statements and take fmt-style messages.
//
//   RP_CHECK(cond, fmt, ...)        internal invariant; on failure logs file:line and aborts.
//   RP_REQUIRE(cond, code, fmt, ...) user-facing precondition; on failure throws recprism::Error
//                                    with the given StatusCode and message.
//   RP_THROW(code, fmt, ...)         throws recprism::Error unconditionally.
#pragma once

#include <fmt/format.h>

#include "core/status.h"

namespace recprism::detail {
[[noreturn]] void CheckFailed(const char* file, int line, const char* cond, const std::string& msg);
}  // namespace recprism::detail

#define RP_CHECK(cond, ...)                                                                   \
  do {                                                                                        \
    if (!(cond)) ::recprism::detail::CheckFailed(__FILE__, __LINE__, #cond,                   \
                                                 ::fmt::format(__VA_ARGS__));                 \
  } while (0)

#define RP_THROW(code, ...) throw ::recprism::Error((code), ::fmt::format(__VA_ARGS__))

#define RP_REQUIRE(cond, code, ...)               \
  do {                                            \
    if (!(cond)) RP_THROW((code), __VA_ARGS__);   \
  } while (0)
