#include "ringgate/http/response.h"

#include <cstdio>
#include <cstring>

namespace ringgate {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 418:
      return "I'm a teapot";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

void DateCache::refresh() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  if (ts.tv_sec == second_) {
    return;
  }
  second_ = ts.tv_sec;
  tm t;
  gmtime_r(&second_, &t);
  static const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  snprintf(line_, sizeof line_, "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n", kDays[t.tm_wday],
           t.tm_mday, kMonths[t.tm_mon], t.tm_year + 1900, t.tm_hour, t.tm_min, t.tm_sec);
}

void json_escape_tail(std::string& text, size_t from) {
  size_t extra = 0;
  for (size_t i = from; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    extra += c == '"' || c == '\\' ? 1 : c < 0x20 ? 5 : 0;
  }
  if (extra == 0) {
    return;
  }
  // Moved from the back, so the bytes still to escape are read before they are overwritten.
  size_t src = text.size();
  text.resize(text.size() + extra);
  size_t dst = text.size();
  while (src > from) {
    const unsigned char c = static_cast<unsigned char>(text[--src]);
    if (c == '"' || c == '\\') {
      text[--dst] = static_cast<char>(c);
      text[--dst] = '\\';
    } else if (c < 0x20) {
      static const char kHex[] = "0123456789abcdef";
      text[--dst] = kHex[c & 15];
      text[--dst] = kHex[c >> 4];
      text[--dst] = '0';
      text[--dst] = '0';
      text[--dst] = 'u';
      text[--dst] = '\\';
    } else {
      text[--dst] = static_cast<char>(c);
    }
  }
}

}  // namespace ringgate
