#pragma once
// A shard's request logs: one access log line per exchange (logging.access: json or NGINX's
// combined format, 4xx/5xx always, 1xx-3xx sampled) and one error log line per answer the
// gateway decided itself (its own 4xx/5xx, with the reason), at most kErrorLinesPerSecond per
// kind of failure. Lines are formatted into the shard's LogStreams (core/log_writer.h): no
// syscall and no allocation per line. A line waits at most kFlushMs for its buffer to fill
// before the buffer goes to the writer anyway.

#include <cstdint>
#include <string>
#include <string_view>

#include "ringgate/config/config.h"
#include "ringgate/core/error.h"
#include "ringgate/core/log_writer.h"
#include "ringgate/core/timer_wheel.h"
#include "ringgate/http/exchange.h"

namespace ringgate {

class RequestLog final : private Timer {
 public:
  static constexpr size_t kMaxLine = 4096;  // longer targets are cut short
  static constexpr size_t kMaxTarget = 2048;
  static constexpr uint64_t kFlushMs = 100;
  static constexpr uint32_t kErrorLinesPerSecond = 10;

  // `access`: null when the access log is off; `errors`: the error log's stream (stderr).
  RequestLog(const LoggingConfig& config, LogStream* access, LogStream* errors, TimerWheel& timers,
             const uint64_t& now_ms, uint32_t seed);
  ~RequestLog();
  RequestLog(const RequestLog&) = delete;
  RequestLog& operator=(const RequestLog&) = delete;

  bool access_on() const { return access_ != nullptr; }
  // At the request head, before the target is normalised: what the access line needs from the
  // head, copied into the exchange's arena (the head's bytes are gone by the log phase).
  void capture(Exchange& x);
  // The log phase.
  void log(const Exchange& x);
  // A request refused before its head was complete (no exchange): its access line.
  void log_unparsed(int status, ErrorKind kind, std::string_view client, uint64_t bytes_in);
  // The gateway answers `error` with `status`: its error log line (rate-limited per kind).
  // `x` is null for a request refused before its head was complete.
  void log_error(const Exchange* x, const Error& error, int status, std::string_view client);
  // An event of the gateway's own on the error log ("upstream api: endpoint ... ejected for
  // 30000 ms"), written when `level` is within logging.level.
  void event(LogLevel level, std::string_view text);
  // Whether event(level, ...) would write (to skip formatting what would not be).
  bool wants(LogLevel level) const { return errors_ && level <= config_.level; }
  // Hands what is buffered to the writer (the flush timer; draining).
  void flush();

  // The request log of the shard running on this thread (set by its worker), for code that has
  // no handle of its own (upstream state changes); null off the shards.
  static RequestLog* current();
  static void set_current(RequestLog* log);

 private:
  struct Line;

  bool sampled_out(int status);
  template <typename Value>
  void write_object(Line& line, Value&& value);
  void write_json(const Exchange& x, Line& line);
  void write_combined(const Exchange& x, Line& line);
  void committed(bool first);
  // "2026-12-03T16:40:00.123Z" (json) or "03/Dec/2026:16:40:00 +0000" (combined) of now.
  void append_time(Line& line, bool combined);
  static void on_timer(Timer* t);

  const LoggingConfig& config_;
  LogStream* access_;
  LogStream* errors_;
  TimerWheel& timers_;
  const uint64_t& now_ms_;
  uint64_t rng_;
  // Error lines per kind of failure in the current second, and those left out.
  uint64_t error_second_ = 0;
  uint32_t error_lines_[64] = {};
  uint32_t suppressed_[64] = {};
  std::string detail_;  // reused: the error's detail text
  // The current second as text (made once a second): json's without the milliseconds.
  int64_t time_second_ = -1;
  char json_time_[80] = {};
  char combined_time_[80] = {};
};

}  // namespace ringgate
