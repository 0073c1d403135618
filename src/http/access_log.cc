#include "ringgate/http/access_log.h"

#include <array>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "ringgate/core/method.h"
#include "ringgate/http/error_reply.h"
#include "ringgate/http/pipeline.h"

namespace ringgate {

namespace {

constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Copies `text` (at most `max` bytes) into the exchange's arena; empty when it has no room.
std::string_view keep(Exchange& x, std::string_view text, size_t max) {
  text = text.substr(0, max);
  if (text.empty()) {
    return {};
  }
  char* p = static_cast<char*>(x.arena().allocate(text.size(), 1));
  if (!p) {
    return {};
  }
  std::memcpy(p, text.data(), text.size());
  return std::string_view(p, text.size());
}

// `"name":` of a json field, made once.
std::string_view json_key(AccessField f) {
  static const auto keys = [] {
    std::array<std::string, static_cast<size_t>(AccessField::kCount)> k;
    for (size_t i = 0; i < k.size(); ++i) {
      k[i] = std::string("\"") + kAccessFieldNames[i] + "\":";
    }
    return k;
  }();
  return keys[static_cast<size_t>(f)];
}

}  // namespace

// What one string of a line may take once escaped: the target 2 KiB, any other 256 bytes. With
// the fixed parts, a line of every field stays under kMaxLine (4 KiB) whatever the strings hold.
constexpr size_t kTargetBudget = 2048;
constexpr size_t kDefaultBudget = 256;

// One line being written into reserved log space; what does not fit is cut (the line always
// ends with its newline).
struct RequestLog::Line {
  char* p;
  char* end;  // one byte is kept for the newline

  Line(char* space, size_t n) : p(space), end(space + n - 1) {}
  void raw(std::string_view s) {
    const size_t n = std::min(s.size(), static_cast<size_t>(end - p));
    if (n > 0) {
      std::memcpy(p, s.data(), n);
      p += n;
    }
  }
  void ch(char c) {
    if (p < end) {
      *p++ = c;
    }
  }
  void number(uint64_t v) {
    char digits[20];
    size_t n = sizeof digits;
    do {
      digits[--n] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    raw(std::string_view(digits + n, sizeof digits - n));
  }
  // Whether `s` has nothing that escaped() or escaped_text() would change.
  static bool plain(std::string_view s) {
    for (const char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u >= 0x7f || u == '"' || u == '\\') {
        return false;
      }
    }
    return true;
  }
  // Writes `s` with quotes, backslashes, control bytes and bytes past ASCII escaped: for a JSON
  // string (`json`: \" \\ and \u00HH; a request's bytes need not be UTF-8, the line must stay
  // valid JSON), or for a space-separated line (combined, the error log: \xHH for all of them,
  // as NGINX writes them). At most `budget` bytes are written and an escape is never cut: every
  // string's budget together stays within kMaxLine, so the line always ends whole.
  void escape(std::string_view s, size_t budget, bool json) {
    static constexpr char kHex[] = "0123456789abcdef";
    static constexpr char kHexUpper[] = "0123456789ABCDEF";
    if (s.size() <= budget && plain(s)) {
      raw(s);
      return;
    }
    for (const char c : s) {
      const auto u = static_cast<unsigned char>(c);
      const bool special = u == '"' || u == '\\' || u < 0x20 || u >= 0x7f;
      const bool quoted = json && (u == '"' || u == '\\');  // \" or \\ in JSON
      const size_t need = !special ? 1 : quoted ? 2 : json ? 6 : 4;
      if (need > budget) {
        return;  // cut short, at a whole character
      }
      budget -= need;
      if (!special) {
        ch(c);
      } else if (quoted) {
        ch('\\');
        ch(c);
      } else {
        raw(json ? "\\u00" : "\\x");
        const char* hex = json ? kHex : kHexUpper;
        ch(hex[u >> 4]);
        ch(hex[u & 15]);
      }
    }
  }
  void escaped(std::string_view s, size_t budget = kDefaultBudget) { escape(s, budget, true); }
  void escaped_text(std::string_view s, size_t budget = kDefaultBudget) {
    escape(s, budget, false);
  }
  void json_string_or_null(std::string_view s, size_t budget = kDefaultBudget) {
    if (s.empty()) {
      raw("null");
      return;
    }
    ch('"');
    escaped(s, budget);
    ch('"');
  }
  size_t finish(char* start) {
    *p++ = '\n';
    return static_cast<size_t>(p - start);
  }
};

RequestLog::RequestLog(const LoggingConfig& config, LogStream* access, LogStream* errors,
                       TimerWheel& timers, const uint64_t& now_ms, uint32_t seed)
    : Timer(&RequestLog::on_timer),
      config_(config),
      access_(access),
      errors_(errors),
      timers_(timers),
      now_ms_(now_ms),
      rng_(0x9e3779b97f4a7c15ull ^ seed) {}

RequestLog::~RequestLog() {
  timers_.disarm(*this);
}

void RequestLog::capture(Exchange& x) {
  const RequestParser& p = x.request();
  x.log.target = keep(x, p.target(), kMaxTarget);
  x.log.client = keep(x, x.client_address(), 64);
  if (config_.access.format == AccessLogConfig::Format::kCombined) {
    x.log.referer = keep(x, p.header("referer"), 512);
    x.log.user_agent = keep(x, p.header("user-agent"), 512);
  }
}

bool RequestLog::sampled_out(int status) {
  const uint32_t ppm = config_.access.sample_ppm;
  if (status >= 400 || status == 0 || ppm >= 1000000) {
    return false;
  }
  // xorshift64: a fraction of successes, the same on average for every shard.
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  return rng_ % 1000000 >= ppm;
}

void RequestLog::log(const Exchange& x) {
  if (!access_ || sampled_out(x.log.status)) {
    return;
  }
  char* space = access_->reserve(kMaxLine);
  if (!space) {
    return;  // counted as dropped
  }
  Line line(space, kMaxLine);
  if (config_.access.format == AccessLogConfig::Format::kJson) {
    write_json(x, line);
  } else {
    write_combined(x, line);
  }
  committed(access_->commit(line.finish(space)));
}

// One json object of the configured fields: the keys, the separators and the time are written
// here, every other value by `value(field)`.
template <typename Value>
void RequestLog::write_object(Line& line, Value&& value) {
  char sep = '{';
  for (const AccessField f : config_.access.fields) {
    line.ch(sep);
    sep = ',';
    line.raw(json_key(f));
    if (f == AccessField::kTime) {
      line.ch('"');
      append_time(line, false);
      line.ch('"');
    } else {
      value(f);
    }
  }
  line.ch('}');
}

void RequestLog::write_json(const Exchange& x, Line& line) {
  const Timings& t = x.timings;
  const RequestParser& p = x.request();
  write_object(line, [&](AccessField f) {
    switch (f) {
      case AccessField::kRequestId:
        line.json_string_or_null(x.log.request_id);
        break;
      case AccessField::kTraceId:
        line.json_string_or_null(x.trace.id());
        break;
      case AccessField::kClient:
        line.json_string_or_null(x.log.client);
        break;
      case AccessField::kMethod:
        line.json_string_or_null(method_name(p.method()));
        break;
      case AccessField::kPath:
        line.json_string_or_null(x.log.target, kTargetBudget);
        break;
      case AccessField::kStatus:
        if (x.log.status) {
          line.number(x.log.status);
        } else {
          line.raw("null");  // the client left before an answer
        }
        break;
      case AccessField::kBytesIn:
        line.number(p.head_bytes() + p.body_bytes());
        break;
      case AccessField::kBytesOut:
        line.number(x.log.bytes_out);
        break;
      case AccessField::kDurationUs:
        line.number(t.done_us > t.head_us ? t.done_us - t.head_us : 0);
        break;
      case AccessField::kUpstream:
        line.json_string_or_null(x.log.upstream ? std::string_view(*x.log.upstream) : "");
        break;
      case AccessField::kUpstreamStatus:
        if (x.log.upstream_status) {
          line.number(x.log.upstream_status);
        } else {
          line.raw("null");
        }
        break;
      case AccessField::kUpstreamDurationUs:
        if (t.upstream_head_us >= t.upstream_start_us && t.upstream_start_us) {
          line.number(t.upstream_head_us - t.upstream_start_us);
        } else {
          line.raw("null");
        }
        break;
      case AccessField::kRoute:
        line.json_string_or_null(x.plan && x.plan->route ? std::string_view(x.plan->route->name)
                                                         : std::string_view());
        break;
      case AccessField::kConsumer:
        line.json_string_or_null(x.identity.consumer);
        break;
      case AccessField::kPartial:
        line.raw(x.log.partial ? "true" : "false");
        break;
      case AccessField::kError:
        line.json_string_or_null(x.log.error == ErrorKind::kNone ? std::string_view()
                                                                 : error_code(x.log.error));
        break;
      case AccessField::kTime:
      case AccessField::kCount:
        break;
    }
  });
}

// NGINX's combined: client - user [time] "request" status bytes "referer" "user-agent".
void RequestLog::write_combined(const Exchange& x, Line& line) {
  const RequestParser& p = x.request();
  if (x.log.client.empty()) {
    line.ch('-');
  } else {
    line.escaped_text(x.log.client);  // from X-Forwarded-For with trusted_hops: the client's text
  }
  line.raw(" - ");
  if (x.identity.consumer.empty()) {
    line.ch('-');
  } else {
    line.escaped_text(x.identity.consumer);
  }
  line.raw(" [");
  append_time(line, true);
  line.raw("] \"");
  line.raw(method_name(p.method()));
  line.ch(' ');
  line.escaped_text(x.log.target, kTargetBudget);
  line.raw(x.http2 ? " HTTP/2.0\" " : p.http_minor() == 0 ? " HTTP/1.0\" " : " HTTP/1.1\" ");
  line.number(x.log.status);
  line.ch(' ');
  line.number(x.log.bytes_out);
  line.raw(" \"");
  if (x.log.referer.empty()) {
    line.ch('-');
  } else {
    line.escaped_text(x.log.referer);
  }
  line.raw("\" \"");
  if (x.log.user_agent.empty()) {
    line.ch('-');
  } else {
    line.escaped_text(x.log.user_agent);
  }
  line.ch('"');
}

void RequestLog::log_unparsed(int status, ErrorKind kind, std::string_view client,
                              uint64_t bytes_in) {
  if (!access_) {
    return;
  }
  char* space = access_->reserve(kMaxLine);
  if (!space) {
    return;
  }
  Line line(space, kMaxLine);
  if (config_.access.format == AccessLogConfig::Format::kCombined) {
    if (client.empty()) {
      line.ch('-');
    } else {
      line.escaped_text(client);
    }
    line.raw(" - - [");
    append_time(line, true);
    line.raw("] \"-\" ");
    line.number(static_cast<uint64_t>(status));
    line.raw(" 0 \"-\" \"-\"");
  } else {
    write_object(line, [&](AccessField f) {
      switch (f) {
        case AccessField::kClient:
          line.json_string_or_null(client);
          break;
        case AccessField::kStatus:
          line.number(static_cast<uint64_t>(status));
          break;
        case AccessField::kBytesIn:
          line.number(bytes_in);
          break;
        case AccessField::kBytesOut:
        case AccessField::kDurationUs:
          line.ch('0');
          break;
        case AccessField::kPartial:
          line.raw("false");
          break;
        case AccessField::kError:
          line.json_string_or_null(error_code(kind));
          break;
        default:
          line.raw("null");
          break;
      }
    });
  }
  committed(access_->commit(line.finish(space)));
}

void RequestLog::log_error(const Exchange* x, const Error& error, int status,
                           std::string_view client) {
  const LogLevel level = status >= 500 ? LogLevel::kError : LogLevel::kInfo;
  if (!errors_ || level > config_.level) {
    return;
  }
  const uint64_t second = now_ms_ / 1000;
  if (second != error_second_) {
    error_second_ = second;
    std::memset(error_lines_, 0, sizeof error_lines_);
  }
  const size_t kind = static_cast<size_t>(error.kind) % std::size(error_lines_);
  if (error_lines_[kind] >= kErrorLinesPerSecond) {
    ++suppressed_[kind];
    return;
  }
  ++error_lines_[kind];
  char* space = errors_->reserve(kMaxLine);
  if (!space) {
    return;
  }
  Line line(space, kMaxLine);
  line.raw("ringgate: ");
  append_time(line, false);
  line.raw(level == LogLevel::kError ? " error " : " info ");
  line.number(static_cast<uint64_t>(status));
  line.ch(' ');
  line.raw(error_code(error.kind));
  line.raw(": ");
  detail_.clear();
  append_error_detail(error, detail_);
  line.escaped_text(detail_, kTargetBudget / 2);
  if (x) {
    line.raw(" method=");
    line.raw(method_name(x->request().method()));
    if (!x->log.target.empty()) {
      line.raw(" path=");
      line.escaped_text(x->log.target, kTargetBudget / 2);
    }
    if (x->plan && x->plan->route) {
      line.raw(" route=");
      line.escaped_text(x->plan->route->name);
    }
    if (!x->log.request_id.empty()) {
      line.raw(" request_id=");
      line.escaped_text(x->log.request_id);
    }
    if (x->trace.on) {
      line.raw(" trace_id=");
      line.raw(x->trace.id());
    }
  }
  if (!client.empty()) {
    line.raw(" client=");
    line.escaped_text(client);
  }
  if (suppressed_[kind] > 0) {
    line.raw(" (");
    line.number(suppressed_[kind]);
    line.raw(" more like it left out)");
    suppressed_[kind] = 0;
  }
  committed(errors_->commit(line.finish(space)));
}

namespace {
thread_local RequestLog* current_log = nullptr;
}  // namespace

RequestLog* RequestLog::current() {
  return current_log;
}

void RequestLog::set_current(RequestLog* log) {
  current_log = log;
}

void RequestLog::event(LogLevel level, std::string_view text) {
  if (!errors_ || level > config_.level) {
    return;
  }
  char* space = errors_->reserve(kMaxLine);
  if (!space) {
    return;
  }
  static constexpr const char* kLevels[] = {" error ", " warn ", " info ", " debug "};
  Line line(space, kMaxLine);
  line.raw("ringgate: ");
  append_time(line, false);
  line.raw(kLevels[static_cast<size_t>(level)]);
  line.escaped_text(text);
  committed(errors_->commit(line.finish(space)));
}

void RequestLog::append_time(Line& line, bool combined) {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);  // the vDSO: no syscall
  // The text of the second is made once a second; json lines add the milliseconds.
  if (ts.tv_sec != time_second_) {
    time_second_ = ts.tv_sec;
    tm utc{};
    gmtime_r(&ts.tv_sec, &utc);
    snprintf(json_time_, sizeof json_time_, "%04d-%02d-%02dT%02d:%02d:%02d.", utc.tm_year + 1900,
             utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
    snprintf(combined_time_, sizeof combined_time_, "%02d/%s/%04d:%02d:%02d:%02d +0000",
             utc.tm_mday, kMonths[utc.tm_mon], utc.tm_year + 1900, utc.tm_hour, utc.tm_min,
             utc.tm_sec);
  }
  if (combined) {
    line.raw(combined_time_);
    return;
  }
  line.raw(json_time_);
  const long ms = ts.tv_nsec / 1000000;
  line.ch(static_cast<char>('0' + ms / 100));
  line.ch(static_cast<char>('0' + ms / 10 % 10));
  line.ch(static_cast<char>('0' + ms % 10));
  line.ch('Z');
}

void RequestLog::committed(bool first) {
  // The first line of a buffer waits at most kFlushMs for the buffer to fill.
  if (first && !armed()) {
    timers_.arm(*this, now_ms_ + kFlushMs);
  }
}

void RequestLog::flush() {
  if (access_) {
    access_->flush();
  }
  if (errors_) {
    errors_->flush();
  }
}

void RequestLog::on_timer(Timer* t) {
  static_cast<RequestLog*>(t)->flush();
}

}  // namespace ringgate
