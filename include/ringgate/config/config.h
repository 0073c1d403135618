#pragma once
// Validated, immutable gateway configuration. Built once from YAML at start-up (or on reload, off
// the request path) and then shared read-only by every shard.

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace ringgate {

using Duration = std::chrono::milliseconds;

// Where a config value came from, for error messages (`file:line:column`). Lines and columns are
// 1-based.
struct SourceMark {
  std::string file;
  int line = 0;
  int column = 0;
};

// Thrown only while loading a config; what() is "file:line:column: reason".
class ConfigError : public std::runtime_error {
 public:
  ConfigError(const SourceMark& mark, const std::string& reason);
  explicit ConfigError(const std::string& message) : std::runtime_error(message) {}
};

struct ListenConfig {
  std::string
      address;  // "host:port", IPv4 or [IPv6]; port 0 picks a free port (shared by all shards)
  SourceMark mark;
};

// Provided-buffer ring per shard: `count` buffers of `size` bytes receive everything read.
struct BufferConfig {
  uint32_t size = 16 * 1024;  // 1KiB..64KiB (offsets into a buffer are 16-bit)
  uint32_t count = 4096;      // power of two, 1..32768
};

struct Limits {
  uint32_t request_line = 8 * 1024;   // method + target + version; longer → 414
  uint32_t header_bytes = 16 * 1024;  // whole request head; more → 431 (≤ 64KiB)
  uint32_t headers = 100;             // header fields; more → 431
  uint64_t body_bytes = 8ull << 20;   // request body; more → 413
  uint32_t connections = 10000;    // open client connections per process; more are closed at once
  Duration header_timeout{10000};  // from the first byte of a request to the end of its head → 408
  Duration idle_timeout{60000};    // keep-alive connection with no request in progress → close
  Duration request_timeout{60000};  // from head complete to the response being sent → 408 and close
};

struct ServerConfig {
  uint32_t workers = 0;  // shards; 0 = auto (one per online CPU)
  bool pin_cpus = true;  // pin shard i to the i-th allowed CPU
  std::vector<ListenConfig> listen;
  BufferConfig buffers;
  Limits limits;
  Duration drain_timeout{10000};           // SIGTERM: time allowed for in-flight requests
  std::string server_header = "ringgate";  // empty: no Server header
  uint32_t ring_entries = 4096;            // io_uring SQ entries per shard (power of two)
  uint32_t backlog = 4096;                 // listen(2) backlog
  // Once a completion has arrived, wait up to this long for more before handling the batch
  // (only while at least 4 connections are open; needs Linux 6.12, ignored before). Fewer
  // wake-ups per request for up to this much added latency; 0 turns it off.
  uint32_t batch_wait_us = 50;
};

struct AdminConfig {
  bool enabled = true;
  std::string listen = "127.0.0.1:9901";  // /healthz, /metrics
  SourceMark mark;
};

struct HeaderPair {
  std::string name;
  std::string value;
};

// Route action: answer from config without any upstream.
struct DirectResponse {
  int status = 200;
  std::vector<HeaderPair> headers;
  std::string body;
};

struct RouteMatch {
  enum class Kind { kExact, kPrefix, kTemplate };
  Kind kind = Kind::kExact;
  std::string path;                  // `/a/b`, prefix `/api/`, or template `/products/{id}`
  std::vector<std::string> methods;  // upper-case method names; empty = any method
  std::string host;                  // lower-case, no port; empty = any host
};

using RouteAction = std::variant<DirectResponse>;

struct RouteConfig {
  std::string name;  // `name:` or "route#N" (1-based index)
  RouteMatch match;
  RouteAction action;
  SourceMark mark;
};

struct Config {
  std::string source;  // file name, or "<embedded>"
  ServerConfig server;
  AdminConfig admin;
  std::vector<RouteConfig> routes;
};

// Parse and validate; throws ConfigError with file:line:column on the first problem.
Config load_config_file(const std::string& path);
Config load_config_string(const std::string& yaml, const std::string& source_name);

// conf/ringgate.yaml, compiled into the binary.
extern const char* const kEmbeddedDefaultConfig;

// "16KiB", "8MiB", "512" → bytes; "300ms", "60s", "2m", "1h" → Duration. false on bad
// syntax/overflow.
bool parse_size(const std::string& text, uint64_t& out);
bool parse_duration(const std::string& text, Duration& out);
// "50us", "1ms" → microseconds (for the few sub-millisecond settings).
bool parse_microseconds(const std::string& text, uint64_t& out);

}  // namespace ringgate
