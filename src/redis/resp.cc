#include "ringgate/redis/resp.h"

#include <charconv>

namespace ringgate {

namespace resp {

namespace {

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, static_cast<size_t>(end - buf));
}

// The line at the front of data[0, len) without its CRLF; false when the CRLF is not there yet.
bool line(const char* data, size_t len, std::string_view& text, size_t& used) {
  for (size_t i = 0; i + 1 < len; ++i) {
    if (data[i] == '\r' && data[i + 1] == '\n') {
      text = std::string_view(data, i);
      used = i + 2;
      return true;
    }
  }
  return false;
}

bool to_int(std::string_view s, int64_t& v) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

constexpr int kMaxDepth = 8;

// One value at the front: its bytes in *used. Nested arrays are skipped to their end.
Parse read_value(const char* data, size_t len, Reply* top, int depth, size_t* used) {
  if (len == 0) {
    return Parse::kNeedMore;
  }
  if (depth > kMaxDepth) {
    return Parse::kBad;
  }
  std::string_view text;
  size_t n = 0;
  if (!line(data + 1, len - 1, text, n)) {
    return len > 64 * 1024 ? Parse::kBad : Parse::kNeedMore;
  }
  n += 1;
  const char kind = data[0];
  Reply scratch;
  Reply& r = top ? *top : scratch;
  switch (kind) {
    case '+':
      r.type = Reply::Type::kSimple;
      r.text = text;
      *used = n;
      return Parse::kDone;
    case '-':
      r.type = Reply::Type::kError;
      r.text = text;
      *used = n;
      return Parse::kDone;
    case ':':
      if (!to_int(text, r.integer)) {
        return Parse::kBad;
      }
      r.type = Reply::Type::kInteger;
      *used = n;
      return Parse::kDone;
    case '$': {
      int64_t size = 0;
      if (!to_int(text, size) || size < -1 || size > 512 * 1024 * 1024) {
        return Parse::kBad;
      }
      if (size == -1) {
        r.type = Reply::Type::kNull;
        *used = n;
        return Parse::kDone;
      }
      const size_t need = n + static_cast<size_t>(size) + 2;
      if (len < need) {
        return Parse::kNeedMore;
      }
      if (data[need - 2] != '\r' || data[need - 1] != '\n') {
        return Parse::kBad;
      }
      r.type = Reply::Type::kBulk;
      r.text = std::string_view(data + n, static_cast<size_t>(size));
      *used = need;
      return Parse::kDone;
    }
    case '*': {
      int64_t count = 0;
      if (!to_int(text, count) || count < -1 || count > 1024 * 1024) {
        return Parse::kBad;
      }
      if (count == -1) {
        r.type = Reply::Type::kNull;
        *used = n;
        return Parse::kDone;
      }
      r.type = Reply::Type::kArray;
      r.count = static_cast<size_t>(count);
      r.int_count = 0;
      bool leading = true;
      size_t at = n;
      for (int64_t i = 0; i < count; ++i) {
        Reply element;
        size_t k = 0;
        const Parse p = read_value(data + at, len - at, &element, depth + 1, &k);
        if (p != Parse::kDone) {
          return p;
        }
        if (leading && element.type == Reply::Type::kInteger && r.int_count < Reply::kMaxInts) {
          r.ints[r.int_count++] = element.integer;
        } else {
          leading = false;
        }
        at += k;
      }
      *used = at;
      return Parse::kDone;
    }
    default:
      return Parse::kBad;
  }
}

}  // namespace

void append_command(std::string& out, const Arg* args, size_t count) {
  out.push_back('*');
  append_uint(out, count);
  out.append("\r\n");
  for (size_t i = 0; i < count; ++i) {
    size_t size = 0;
    for (std::string_view part : args[i].parts) {
      size += part.size();
    }
    out.push_back('$');
    append_uint(out, size);
    out.append("\r\n");
    for (std::string_view part : args[i].parts) {
      out.append(part);
    }
    out.append("\r\n");
  }
}

Parse parse_reply(const char* data, size_t len, Reply& reply, size_t* used) {
  reply = Reply{};
  return read_value(data, len, &reply, 0, used);
}

}  // namespace resp

}  // namespace ringgate
