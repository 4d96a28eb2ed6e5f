// Report writers and reader (docs/report-format.md): report.json (versioned, every number with
// its interval), report.md (tables for a terminal or a pull request) and report.html (one
// self-contained page that opens offline: no network, the script and styles inline).
#pragma once

#include <string>

#include "eval/report.h"

namespace recprism::eval {

std::string ReportToJson(const Report& report);
// Throws Error(kDataError) naming `path` and the problem (not JSON, another version, a missing field).
Report ReportFromJson(const std::string& text, const std::string& path);
std::string ReportToMarkdown(const Report& report);
std::string ReportToHtml(const Report& report);

// Writes report.json, report.md and report.html under dir, each atomically (temporary name, then
// rename): a failure never leaves a half-written report where a good one stood.
void WriteReport(const Report& report, const std::string& dir);

// Paired comparison of two reports of the same users and bootstrap seed (`recprism compare`):
// every metric present in both, value = a - b, interval and two-sided p-value from the paired
// replicate differences, Holm-adjusted over all compared metrics. Throws Error(kDataError) when
// the reports cannot be paired (different users, seeds or replicate counts), naming both.
Report CompareReports(const Report& a, const Report& b, const std::string& name_a, const std::string& name_b);

}  // namespace recprism::eval
