#pragma once
// RESP2, the Redis protocol: commands out (arrays of bulk strings), replies in. Pure functions on
// caller buffers, no allocation beyond appending to the output string.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringgate {

namespace resp {

// Appends a command (an array of bulk strings) to `out`. Each argument is the concatenation of
// its parts, so a key like PREFIX + policy + ":" + key is written without a temporary.
struct Arg {
  std::string_view parts[4];
};
void append_command(std::string& out, const Arg* args, size_t count);

// One reply, read from the front of a buffer. Arrays are read to their end (nested ones too),
// keeping the first kMaxInts integers of the top level.
struct Reply {
  enum class Type : uint8_t { kSimple, kError, kInteger, kBulk, kNull, kArray };
  static constexpr size_t kMaxInts = 4;
  Type type = Type::kNull;
  int64_t integer = 0;    // kInteger
  std::string_view text;  // kSimple, kError, kBulk (a view into the buffer)
  size_t count = 0;       // kArray: elements
  int64_t ints[kMaxInts] = {};
  size_t int_count = 0;  // kArray: leading integer elements kept in ints
};
enum class Parse : uint8_t { kDone, kNeedMore, kBad };
// Reads one reply from data[0, len): kDone with *used bytes, kNeedMore, or kBad (not RESP).
Parse parse_reply(const char* data, size_t len, Reply& reply, size_t* used);

}  // namespace resp

}  // namespace ringgate
