# nlohmann/json for the aarch64 cross build (cmake/aarch64-toolchain.cmake): header-only,
# so the host's headers (Debian nlohmann-json3-dev) serve the target. They live directly
# in /usr/include, which must not reach the target's include path (it holds the host's C
# library headers): a folder in the build tree links to /usr/include/nlohmann alone.
set(_df_json_dir "/usr/include/nlohmann")
if(NOT EXISTS "${_df_json_dir}/json.hpp")
  set(nlohmann_json_FOUND FALSE)
  set(nlohmann_json_NOT_FOUND_MESSAGE "no ${_df_json_dir}/json.hpp (apt-get install nlohmann-json3-dev)")
  return()
endif()
set(_df_json_include "${CMAKE_BINARY_DIR}/host-headers")
if(NOT EXISTS "${_df_json_include}/nlohmann/json.hpp")
  file(MAKE_DIRECTORY "${_df_json_include}")
  file(CREATE_LINK "${_df_json_dir}" "${_df_json_include}/nlohmann" SYMBOLIC)
endif()
if(NOT TARGET nlohmann_json::nlohmann_json)
  add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
  set_target_properties(nlohmann_json::nlohmann_json PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${_df_json_include}")
endif()
