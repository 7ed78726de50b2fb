# GoogleTest for the aarch64 cross build (cmake/aarch64-toolchain.cmake): there is no
# prebuilt aarch64 library on the host, so the sources that Debian's libgtest-dev ships in
# /usr/src/googletest are compiled for the target inside the build (only what the tests
# link), and exposed under the usual imported names GTest::gtest, GTest::gtest_main,
# GTest::gmock and GTest::gmock_main.
set(DF_GTEST_SOURCE_DIR "/usr/src/googletest" CACHE PATH "GoogleTest sources (libgtest-dev)")
if(NOT EXISTS "${DF_GTEST_SOURCE_DIR}/CMakeLists.txt")
  set(GTest_FOUND FALSE)
  if(GTest_FIND_REQUIRED)
    message(FATAL_ERROR "GoogleTest sources not found in ${DF_GTEST_SOURCE_DIR} "
                        "(apt-get install libgtest-dev libgmock-dev)")
  endif()
  return()
endif()
if(NOT TARGET gtest)
  set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
  set(BUILD_GMOCK ON CACHE BOOL "" FORCE)
  add_subdirectory("${DF_GTEST_SOURCE_DIR}" "${CMAKE_BINARY_DIR}/googletest" EXCLUDE_FROM_ALL)
  # Third-party code: the project's -Werror is not applied to it.
  foreach(_df_target gtest gtest_main gmock gmock_main)
    target_compile_options(${_df_target} PRIVATE -Wno-error)
  endforeach()
endif()
foreach(_df_target gtest gtest_main gmock gmock_main)
  if(NOT TARGET GTest::${_df_target})
    add_library(GTest::${_df_target} ALIAS ${_df_target})
  endif()
endforeach()
set(GTest_FOUND TRUE)
set(GTEST_FOUND TRUE)
