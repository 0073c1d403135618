#pragma once
// Helpers for the aggregate JSON tests: bodies with the padding Reader requires.

#include <string>
#include <string_view>

#include "ringgate/aggregate/json.h"

namespace ringgate::json::testing {

// A body followed by kPadding bytes of `pad` (the padding's content must not matter).
class Body {
 public:
  explicit Body(std::string_view text, char pad = '\0') : len_(text.size()) {
    buf_.reserve(text.size() + kPadding);
    buf_.append(text);
    buf_.append(kPadding, pad);
  }
  const char* data() const { return buf_.data(); }
  size_t size() const { return len_; }
  std::string_view text() const { return std::string_view(buf_.data(), len_); }

 private:
  std::string buf_;
  size_t len_;
};

inline Path path(std::string_view text) {
  Path p;
  std::string why;
  if (!Path::parse(text, &p, &why)) {
    ADD_FAILURE() << "path \"" << text << "\": " << why;
  }
  return p;
}

}  // namespace ringgate::json::testing
