// Shared by the libFuzzer harnesses (fuzz/*_fuzzer.cc) and their gcc replay tests.
//
// The contract every reader is held to: for any input it returns, or throws a
// dreamforge::Error (robot/error.h) whose message is one line naming the file. Anything else
// is a finding and aborts, so that libFuzzer saves the input and the replay test fails: a
// crash, an out-of-bounds read (ASan), undefined behaviour (UBSan), another exception type
// (a library's YAML::Exception, std::out_of_range, an H5::Exception), a message without
// the file's name or spread over several lines. Hangs and huge allocations are caught by
// libFuzzer's -timeout, -rss_limit_mb and -malloc_limit_mb (tools/fuzz.sh).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include <unistd.h>

#include "robot/error.h"

namespace dreamforge::fuzz {

[[noreturn]] inline void Finding(const std::string& what) {
  std::fprintf(stderr, "dreamforge fuzz finding: %s\n", what.c_str());
  std::abort();
}

// DF_FUZZ_VERBOSE=1 in the environment prints each accepted refusal (to see what a seed
// or a saved input does).
inline void Verbose(const std::string& what) {
  static const bool on = std::getenv("DF_FUZZ_VERBOSE") != nullptr;
  if (on) std::fprintf(stderr, "%s\n", what.c_str());
}

// Checks a refusal's message: it names one of `files` and is one line.
inline void CheckMessage(const std::string& msg, const std::vector<std::string>& files) {
  Verbose("refused: " + msg);
  bool named = false;
  for (const std::string& f : files) named = named || msg.find(f) != std::string::npos;
  if (!named) Finding("error names no input file (" + files.front() + "): " + msg);
  if (msg.find('\n') != std::string::npos) Finding("error is not one line: " + msg);
}

// Runs `read`; a dreamforge::Error naming one of `files` on one line is the accepted way to
// refuse.
template <class F>
void ExpectContract(const std::vector<std::string>& files, F&& read) {
  try {
    read();
    Verbose("accepted");
  } catch (const dreamforge::Error& e) {
    CheckMessage(e.what(), files);
  } catch (const std::exception& e) {
    Finding(std::string("not a dreamforge::Error (") + typeid(e).name() + "): " + e.what());
  } catch (...) {
    Finding("an exception that is not a std::exception escaped the reader");
  }
}

template <class F>
void ExpectContract(const std::string& file, F&& read) {
  ExpectContract(std::vector<std::string>{file}, std::forward<F>(read));
}

// Inputs that hold several files are joined by this line; a harness splits them (the
// dictionaries list it, so mutations can add and move it).
inline constexpr std::string_view kSplit = "\n#DFSPLIT#\n";

inline std::vector<std::string> SplitInput(const uint8_t* data, size_t size, size_t max_parts) {
  std::vector<std::string> parts;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  while (parts.size() + 1 < max_parts) {
    const size_t at = rest.find(kSplit);
    if (at == std::string_view::npos) break;
    parts.emplace_back(rest.substr(0, at));
    rest.remove_prefix(at + kSplit.size());
  }
  parts.emplace_back(rest);
  return parts;
}

// A per-process scratch folder for readers that take paths (HDF5 files, bundle folders):
// on tmpfs (/dev/shm) when there is one, so that writing the input costs a memcpy.
inline const std::filesystem::path& ScratchDir() {
  // Never destroyed, so that the atexit cleanup can still use it.
  static const std::filesystem::path* dir = [] {
    const std::filesystem::path base = std::filesystem::exists("/dev/shm")
                                           ? std::filesystem::path("/dev/shm")
                                           : std::filesystem::temp_directory_path();
    auto* d = new std::filesystem::path(base / ("dreamforge-fuzz-" + std::to_string(::getpid())));
    std::filesystem::create_directories(*d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(ScratchDir(), ec);
    });
    return d;
  }();
  return *dir;
}

inline void WriteFile(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) Finding("cannot write scratch file " + path.string());
}

}  // namespace dreamforge::fuzz
