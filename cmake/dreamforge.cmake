# df_add_test(NAME SOURCES a.cc b.cc LIBS lib1 lib2 [LABELS l1])
# One GoogleTest executable; every TEST becomes its own ctest entry.
function(df_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main GTest::gmock)
  target_include_directories(${name} PRIVATE "${PROJECT_SOURCE_DIR}")
  if(DF_SANITIZE_THREAD)
    target_sources(${name} PRIVATE "${PROJECT_SOURCE_DIR}/cmake/tsan_suppressions.cc")
  endif()
  target_compile_definitions(${name} PRIVATE
    DF_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    DF_BINARY_DIR="${PROJECT_BINARY_DIR}")
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  gtest_discover_tests(${name}
    DISCOVERY_MODE PRE_TEST
    # Listing a test binary loads its libraries (LibTorch, Mesa, OpenCV): on a loaded
    # 2-core machine that took over the default 5 s once and failed the whole ctest run.
    DISCOVERY_TIMEOUT 60
    WORKING_DIRECTORY "${PROJECT_BINARY_DIR}"
    PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS}")
endfunction()
