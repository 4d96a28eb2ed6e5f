# Embeds report_template.html into a C++ source at build time (no file is read at run time).
file(READ "${INPUT}" content)
set(delim "RPHTML")
string(FIND "${content}" ")${delim}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )${delim}\"")
endif()
file(WRITE "${OUTPUT}.tmp" "// Generated from report_template.html by embed_template.cmake. Do not edit.\nnamespace recprism::eval {\nextern const char* const kReportTemplateHtml;\nconst char* const kReportTemplateHtml = R\"${delim}(${content})${delim}\";\n}  // namespace recprism::eval\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
