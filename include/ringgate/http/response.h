#pragma once
// Building blocks for responses: reason phrases, the cached Date header, JSON string escaping.

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace ringgate {

std::string_view reason_phrase(int status);

// "Date: <IMF-fixdate>\r\n", rebuilt at most once per second per shard.
class DateCache {
 public:
  DateCache() { refresh(); }
  // Cheap when the second has not changed (one vDSO clock read).
  void refresh();
  std::string_view header_line() const { return std::string_view(line_, kLineLength); }

  static constexpr size_t kLineLength = 37;  // "Date: " + 29 + "\r\n"

 private:
  time_t second_ = 0;
  char line_[64] = {};  // room for any tm value; 37 bytes are used
};

// Escapes text[from, end) in place for a JSON string ('"', '\\' and control characters).
void json_escape_tail(std::string& text, size_t from);

}  // namespace ringgate
