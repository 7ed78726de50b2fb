// The one base of dreamforge's user-facing errors. Each folder derives its own kind
// (robot::BundleError, sim::SimError, datasets::DatasetError, augment::AugmentError,
// policy::PolicyError, tools::UsageError); every message names the file and the field (or
// the option) at fault. tools/main.cc catches Error once: it prints the message and exits
// with status 2 (bad input); any other exception is a runtime failure (status 1).
#pragma once

#include <cstdio>
#include <stdexcept>
#include <string>

namespace dreamforge {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// `text` (a fragment of an input file quoted in a message: a key, a value, a parser's
// complaint) with control characters written as \n, \r, \t or \xNN, so that the message
// stays one line whatever the file holds.
inline std::string OneLine(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (u < 0x20 || u == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", u);
      out += hex;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace dreamforge
