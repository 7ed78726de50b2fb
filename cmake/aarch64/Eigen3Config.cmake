# Eigen for the aarch64 cross build (cmake/aarch64-toolchain.cmake): header-only, so the
# host's /usr/include/eigen3 (Debian libeigen3-dev) serves the target unchanged.
set(EIGEN3_INCLUDE_DIR "/usr/include/eigen3")
if(NOT EXISTS "${EIGEN3_INCLUDE_DIR}/Eigen/Core")
  set(Eigen3_FOUND FALSE)
  set(Eigen3_NOT_FOUND_MESSAGE "no ${EIGEN3_INCLUDE_DIR}/Eigen/Core (apt-get install libeigen3-dev)")
  return()
endif()
if(NOT TARGET Eigen3::Eigen)
  add_library(Eigen3::Eigen INTERFACE IMPORTED)
  set_target_properties(Eigen3::Eigen PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${EIGEN3_INCLUDE_DIR}")
endif()
