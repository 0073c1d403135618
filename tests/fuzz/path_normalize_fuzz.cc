// libFuzzer target for the request path normaliser (src/http/path.cc). The input is the path;
// it and the output buffer sit in exact-size heap blocks, so AddressSanitizer catches a read or
// write past either.
//
// Invariants for an accepted origin-form path: the result is no longer than the input, starts
// with '/', has no empty, "." or ".." segment, decodes no escape of a character that is not
// unreserved, and normalising it again gives the same bytes and no new flag.

#define FUZZ_TARGET "fuzz_path_normalize"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "ringgate/http/path.h"

namespace {

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto in = std::make_unique<char[]>(size ? size : 1);
  if (size) {
    std::memcpy(in.get(), data, size);
  }
  const std::string_view path(in.get(), size);
  auto out = std::make_unique<char[]>(size ? size : 1);
  ringgate::NormalizedPath r;
  if (!ringgate::normalize_path(path, out.get(), &r)) {
    FUZZ_CHECK(path.find('%') != std::string_view::npos);  // only escapes can be malformed
    return 0;
  }
  if (path.empty() || path[0] != '/') {
    FUZZ_CHECK(r.path.data() == path.data() && r.path.size() == path.size());
    return 0;
  }
  const std::string_view p = r.path;
  FUZZ_CHECK(p.size() <= path.size());
  FUZZ_CHECK(!p.empty() && p[0] == '/');
  FUZZ_CHECK(p.find("//") == std::string_view::npos);
  FUZZ_CHECK(p.find("/./") == std::string_view::npos);
  FUZZ_CHECK(p.find("/../") == std::string_view::npos);
  FUZZ_CHECK(!ends_with(p, "/.") && !ends_with(p, "/.."));
  // Every escape left is two upper-case hex digits of a byte that is not unreserved.
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] != '%') {
      continue;
    }
    FUZZ_CHECK(i + 2 < p.size());
    for (size_t k = 1; k <= 2; ++k) {
      const char c = p[i + k];
      FUZZ_CHECK((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'));
    }
    const int v = (p[i + 1] <= '9' ? p[i + 1] - '0' : p[i + 1] - 'A' + 10) * 16 +
                  (p[i + 2] <= '9' ? p[i + 2] - '0' : p[i + 2] - 'A' + 10);
    const bool unreserved = (v >= 'a' && v <= 'z') || (v >= 'A' && v <= 'Z') ||
                            (v >= '0' && v <= '9') || v == '-' || v == '.' || v == '_' || v == '~';
    FUZZ_CHECK(!unreserved);
  }
  const std::vector<char> copy(p.begin(), p.end());
  std::vector<char> out2(p.size());
  ringgate::NormalizedPath again;
  FUZZ_CHECK(
      ringgate::normalize_path(std::string_view(copy.data(), copy.size()), out2.data(), &again));
  FUZZ_CHECK(again.path == p);
  FUZZ_CHECK((again.flags & ~r.flags) == 0);
  return 0;
}
