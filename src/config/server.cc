// The `server:` section: how the gateway listens, how many shards it runs and what a request may
// cost them. Its limits are checked against each other here, where both are known: a limit that
// another makes unreachable is a mistake, not a setting.

#include <unistd.h>

#include "config/sections.h"

namespace ringgate::config_detail {
namespace {

// Bounds. Each one is documented next to its option in conf/ringgate.yaml.
constexpr uint32_t kMaxWorkers = 1024;
constexpr uint64_t kMinBufferSize = 1 * kKiB;
constexpr uint64_t kMaxBufferSize = 64 * kKiB;  // buffer offsets are 16-bit
constexpr uint32_t kMaxBufferCount = 32768;     // kernel limit on a provided-buffer ring
constexpr uint64_t kMinRequestLine = 64;        // room for a method, a short target and the version
constexpr uint64_t kMinHeaderBytes = 1 * kKiB;
constexpr uint64_t kMaxHeaderBytes = 64 * kKiB;
constexpr uint32_t kMaxHeaders = 1000;
constexpr uint64_t kMaxBodyBytes = 1 * kTiB;
constexpr uint32_t kMaxConnections = 1 << 20;  // a typical hard RLIMIT_NOFILE
constexpr Duration kMaxDrainTimeout{60 * 60 * 1000};
// Waiting longer than this for a batch costs more latency than any batch saves.
constexpr uint64_t kMaxBatchWaitUs = 10000;
constexpr uint32_t kMinRingEntries = 64;
constexpr uint32_t kMaxRingEntries = 32768;  // IORING_MAX_ENTRIES
constexpr uint32_t kMaxBacklog = 65535;
constexpr size_t kMaxServerHeader = 256;
constexpr uint32_t kMaxTrustedHops = 16;
// server.http2
constexpr uint64_t kMaxConcurrentStreams = 10000;
constexpr uint64_t kMinInitialWindow = 1024;
constexpr uint64_t kMaxInitialWindow = (uint64_t{1} << 31) - 1;  // RFC 9113 6.5.2
constexpr uint64_t kMaxHeaderList = 1024 * 1024;
constexpr uint64_t kMaxResetsPerSecond = 100000;

class ServerLoader : public Loader {
 public:
  explicit ServerLoader(const Loader& loader) : Loader(loader) {}

  void load(const Field& f, ServerConfig& server) const;

 private:
  void load_listen(const Field& f, std::vector<ListenConfig>& out) const;
  ListenConfig load_listener(const Field& f) const;
  void load_limits(const Field& f, const BufferConfig& buffers, const Field* buffers_field,
                   Limits& limits) const;
  void load_http2(const Field& f, Http2Config& http2) const;
};

void ServerLoader::load_http2(const Field& f, Http2Config& http2) const {
  const Section s(
      *this, f,
      {"max_concurrent_streams", "initial_window", "max_header_list", "max_resets_per_second"});
  if (const Field* v = s.find("max_concurrent_streams")) {
    http2.max_concurrent_streams = static_cast<uint32_t>(read_number(*v, 1, kMaxConcurrentStreams));
  }
  if (const Field* v = s.find("initial_window")) {
    http2.initial_window =
        static_cast<uint32_t>(read_size(*v, kMinInitialWindow, kMaxInitialWindow));
  }
  if (const Field* v = s.find("max_header_list")) {
    // `header_bytes` (the default) follows limits.header_bytes.
    if (!(v->node.IsScalar() && v->node.Scalar() == "header_bytes")) {
      http2.max_header_list = static_cast<uint32_t>(read_size(*v, kMinHeaderBytes, kMaxHeaderList));
    }
  }
  if (const Field* v = s.find("max_resets_per_second")) {
    http2.max_resets_per_second = static_cast<uint32_t>(read_number(*v, 1, kMaxResetsPerSecond));
  }
}

void ServerLoader::load(const Field& f, ServerConfig& server) const {
  const Section s(*this, f,
                  {"workers", "pin_cpus", "listen", "buffers", "limits", "drain_timeout",
                   "drain_grace", "server_header", "ring_entries", "backlog", "batch_wait",
                   "trusted_hops", "trace_context", "hosts_file", "http2"});
  if (const Field* v = s.find("workers")) {
    server.workers = static_cast<uint32_t>(read_number_or_auto(*v, 1, kMaxWorkers));
  }
  if (const Field* v = s.find("pin_cpus")) {
    server.pin_cpus = read_bool(*v);
  }
  if (const Field* v = s.find("listen")) {
    load_listen(*v, server.listen);
  }
  const Field* buffers = s.find("buffers");
  if (buffers) {
    const Section b(*this, *buffers, {"size", "count"});
    if (const Field* v = b.find("size")) {
      server.buffers.size = static_cast<uint32_t>(read_size(*v, kMinBufferSize, kMaxBufferSize));
    }
    if (const Field* v = b.find("count")) {
      server.buffers.count = is_auto(*v) ? 0 : read_power_of_two(*v, 1, kMaxBufferCount);
    }
  }
  if (const Field* v = s.find("limits")) {
    load_limits(*v, server.buffers, buffers, server.limits);
  } else {
    load_limits(Field{YAML::Node(), f.path + ".limits", f.mark}, server.buffers, buffers,
                server.limits);
  }
  if (const Field* v = s.find("http2")) {
    load_http2(*v, server.http2);
  }
  if (server.http2.max_header_list == 0) {
    server.http2.max_header_list = server.limits.header_bytes;
  }
  if (const Field* v = s.find("drain_timeout")) {
    server.drain_timeout = read_duration(*v, Duration{0}, kMaxDrainTimeout);
  }
  // The grace is part of the drain: an explicit one longer than drain_timeout is a mistake; the
  // default one is cut to a shorter drain_timeout.
  if (const Field* v = s.find("drain_grace")) {
    server.drain_grace = read_duration(*v, Duration{0}, kMaxDrainTimeout);
    if (server.drain_grace > server.drain_timeout) {
      fail(*v, "must not exceed drain_timeout (" + std::to_string(server.drain_timeout.count()) +
                   "ms)");
    }
  } else {
    server.drain_grace = std::min(server.drain_grace, server.drain_timeout);
  }
  if (const Field* v = s.find("batch_wait")) {
    const std::string text = scalar(*v, "auto or a duration like 50us or 1ms");
    uint64_t us = 0;
    server.batch_wait_auto = text == "auto";
    if (!server.batch_wait_auto && !parse_microseconds(text, us)) {
      fail(*v,
           "expected auto or a duration like 50us or 1ms (units: us, ms, s), got " + quote(text));
    }
    if (us > kMaxBatchWaitUs) {
      fail(*v, "must be between 0us and 10ms, got " + text);
    }
    server.batch_wait_us = static_cast<uint32_t>(us);
  }
  if (const Field* v = s.find("server_header")) {
    server.server_header = read_string(*v);
    if (server.server_header.size() > kMaxServerHeader) {
      fail(*v, "longer than " + std::to_string(kMaxServerHeader) + " characters");
    }
    if (auto problem = field_value_problem(server.server_header)) {
      fail(*v, *problem);
    }
  }
  if (const Field* v = s.find("ring_entries")) {
    server.ring_entries = read_power_of_two(*v, kMinRingEntries, kMaxRingEntries);
  }
  if (const Field* v = s.find("backlog")) {
    server.backlog = static_cast<uint32_t>(read_number(*v, 1, kMaxBacklog));
  }
  if (const Field* v = s.find("trusted_hops")) {
    server.trusted_hops = static_cast<uint32_t>(read_number(*v, 0, kMaxTrustedHops));
  }
  if (const Field* v = s.find("trace_context")) {
    const std::string mode = scalar(*v, "accept, restart or off");
    if (mode == "accept") {
      server.trace_context = ServerConfig::TraceContext::kAccept;
    } else if (mode == "restart") {
      server.trace_context = ServerConfig::TraceContext::kRestart;
    } else if (mode == "off") {
      server.trace_context = ServerConfig::TraceContext::kOff;
    } else {
      fail(*v, "expected accept, restart or off, got " + quote(mode));
    }
  }
  if (const Field* v = s.find("hosts_file")) {
    const std::string given = read_string(*v);
    server.hosts_file = resolve_path(given);
    if (server.hosts_file.empty() || access(server.hosts_file.c_str(), R_OK) != 0) {
      fail(*v, "hosts_file " + describe_path(given, server.hosts_file) + " cannot be read");
    }
  }
}

// `listen` is a list of {address: ...} maps; a bare string, or a list of strings, is shorthand.
void ServerLoader::load_listen(const Field& f, std::vector<ListenConfig>& out) const {
  if (f.node.IsScalar() || f.node.IsMap()) {
    out.push_back(load_listener(f));
    return;
  }
  if (!f.node.IsSequence()) {
    fail(f, "expected an address, a list of addresses or a list of {address: ...} maps, got " +
                describe(f.node));
  }
  if (f.node.size() == 0) {
    fail(f, "at least one listener is required, e.g. listen: \"0.0.0.0:8080\"");
  }
  size_t i = 0;
  for (auto it = f.node.begin(); it != f.node.end(); ++it, ++i) {
    out.push_back(load_listener(item(f, i, *it)));
  }
}

ListenConfig ServerLoader::load_listener(const Field& f) const {
  ListenConfig listener;
  if (f.node.IsScalar()) {
    listener.address = read_address(f);
    listener.mark = source_mark(f.mark);
    return listener;
  }
  if (!f.node.IsMap()) {
    fail(f, "expected an address or an {address: ...} map, got " + describe(f.node));
  }
  const Section s(*this, f, {"address", "tls"});
  const Field* address = s.find("address");
  if (!address) {
    fail(f, "missing 'address'");
  }
  listener.address = read_address(*address);
  listener.mark = source_mark(address->mark);
  if (const Field* tls = s.find("tls")) {
    listener.tls = load_listener_tls(*this, *tls);
  }
  return listener;
}

void ServerLoader::load_limits(const Field& f, const BufferConfig& buffers,
                               const Field* buffers_field, Limits& limits) const {
  const Section s(*this, f,
                  {"request_line", "header_bytes", "headers", "body_bytes", "connections",
                   "header_timeout", "idle_timeout", "request_timeout"});
  const Field* header_bytes = s.find("header_bytes");
  if (header_bytes) {
    limits.header_bytes =
        static_cast<uint32_t>(read_size(*header_bytes, kMinHeaderBytes, kMaxHeaderBytes));
  }
  const Field* request_line = s.find("request_line");
  if (request_line) {
    limits.request_line =
        static_cast<uint32_t>(read_size(*request_line, kMinRequestLine, kMaxHeaderBytes));
  }
  if (const Field* v = s.find("headers")) {
    limits.headers = static_cast<uint32_t>(read_number(*v, 1, kMaxHeaders));
  }
  if (const Field* v = s.find("body_bytes")) {
    limits.body_bytes = read_size(*v, 0, kMaxBodyBytes);
  }
  if (const Field* v = s.find("connections")) {
    limits.connections = static_cast<uint32_t>(read_number(*v, 1, kMaxConnections));
  }
  if (const Field* v = s.find("header_timeout")) {
    limits.header_timeout = read_duration(*v, kMinTimeout, kMaxTimeout);
  }
  if (const Field* v = s.find("idle_timeout")) {
    limits.idle_timeout = read_duration(*v, kMinTimeout, kMaxTimeout);
  }
  if (const Field* v = s.find("request_timeout")) {
    limits.request_timeout = read_duration(*v, kMinTimeout, kMaxTimeout);
  }

  // The request line is part of the head, so a larger line limit could never be reached.
  if (limits.request_line > limits.header_bytes) {
    const Field& where = request_line ? *request_line : (header_bytes ? *header_bytes : s.self());
    fail_at(where.mark, f.path + ".request_line (" + format_size(limits.request_line) +
                            ") must not exceed " + f.path + ".header_bytes (" +
                            format_size(limits.header_bytes) + ")");
  }
  // A request head waits in ring buffers until it is complete; a ring smaller than one head
  // could never hold it.
  const uint64_t ring_bytes =
      uint64_t{buffers.size} * (buffers.count ? buffers.count : buffer_count_auto(0));
  if (limits.header_bytes > ring_bytes) {
    const Field& where = header_bytes ? *header_bytes : (buffers_field ? *buffers_field : s.self());
    fail_at(where.mark, f.path + ".header_bytes (" + format_size(limits.header_bytes) +
                            ") must not exceed the receive ring, buffers.size x buffers.count (" +
                            format_size(ring_bytes) + ")");
  }
}

}  // namespace

void load_server(const Loader& loader, const Field& f, ServerConfig& server) {
  ServerLoader(loader).load(f, server);
}

}  // namespace ringgate::config_detail
