# Writes version.cc with the version and the checkout's commit, at every build (not only at
# configure time, which left a stale commit in the reports of binaries rebuilt with `cmake --build`).
# A working tree with uncommitted changes to tracked files gets "-dirty". configure_file rewrites
# the file only when its text changes, so an unchanged commit relinks nothing.
# Usage: cmake -DSRC_DIR=... -DIN=version.cc.in -DOUT=version.cc -DPROJECT_VERSION=... -P stamp_version.cmake
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY "${SRC_DIR}"
                OUTPUT_VARIABLE RECPRISM_GIT_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT RECPRISM_GIT_COMMIT)
  set(RECPRISM_GIT_COMMIT "unknown")
else()
  execute_process(COMMAND git status --porcelain --untracked-files=no WORKING_DIRECTORY "${SRC_DIR}"
                  OUTPUT_VARIABLE changes OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(changes)
    string(APPEND RECPRISM_GIT_COMMIT "-dirty")
  endif()
endif()
configure_file("${IN}" "${OUT}" @ONLY)
