// Crash-safe output (STYLE.md §3): outputs are written to a temporary name beside the target and
// renamed over it, so a crash never leaves a half-written file where a good one stood.
#pragma once

#include <string>
#include <string_view>

namespace recprism {

// Writes content to path atomically (parent directories are created). Throws Error(kIoError)
// naming the path and the OS error.
void WriteFileAtomic(const std::string& path, std::string_view content);

// A temporary sibling name for path, unique to this process: "<path>.tmp.<pid>".
std::string TempPathFor(const std::string& path);

// Renames tmp over path; throws Error(kIoError).
void CommitTempFile(const std::string& tmp, const std::string& path);

// "~/x" -> "$HOME/x"; other paths unchanged.
std::string ExpandUser(const std::string& path);

}  // namespace recprism
