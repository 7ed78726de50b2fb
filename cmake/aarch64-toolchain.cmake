# Cross-compiles the edge controller (robot/ with DF_ROBOT_ONLY=ON) for 64-bit Arm Linux
# with Debian's cross toolchain, and runs its tests under user-mode emulation:
#   apt-get install crossbuild-essential-arm64 qemu-user   (tools/setup.sh --edge)
#   cmake --preset aarch64 && cmake --build --preset aarch64 && ctest --preset aarch64
#
# robot/ needs only Eigen and nlohmann/json, both header-only: the host's headers
# (/usr/include/eigen3, /usr/include/nlohmann) serve the target through the small config
# files in cmake/aarch64/, which never put the host's /usr/include itself on the target's
# include path. GoogleTest is compiled for the target from Debian's source package
# (libgtest-dev ships it in /usr/src/googletest) by cmake/aarch64/FindGTest.cmake.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(DF_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${DF_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${DF_CROSS_TRIPLE}-g++)

# Libraries, headers and packages come from the target's tree only; programs from the host.
set(CMAKE_FIND_ROOT_PATH /usr/${DF_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Test executables (and gtest_discover_tests) run through qemu with the target's loader
# and libraries.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/${DF_CROSS_TRIPLE})

# Header-only dependencies from the host; GoogleTest built from source.
set(Eigen3_DIR "${CMAKE_CURRENT_LIST_DIR}/aarch64" CACHE PATH "Eigen3 config for the cross build")
set(nlohmann_json_DIR "${CMAKE_CURRENT_LIST_DIR}/aarch64" CACHE PATH
    "nlohmann_json config for the cross build")
list(PREPEND CMAKE_MODULE_PATH "${CMAKE_CURRENT_LIST_DIR}/aarch64")
