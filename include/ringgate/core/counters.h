#pragma once
// Per-shard counters. Each shard writes only its own (relaxed load + store, no read-modify-write
// across cores); the admin endpoint sums all shards on scrape. Declared once with an X-macro.

#include <atomic>
#include <cstdint>

namespace ringgate {

// X(field, prometheus name, type, help)
#define RINGGATE_SHARD_COUNTERS(X)                                                                \
  X(connections_total, "ringgate_connections_total", "counter", "Client connections accepted")    \
  X(connections_active, "ringgate_connections_active", "gauge", "Open client connections")        \
  X(connections_rejected, "ringgate_connections_rejected_total", "counter",                       \
    "Connections accepted past server.limits.connections, answered 503 and closed")               \
  X(connections_handed_over, "ringgate_connections_handed_over_total", "counter",                 \
    "Idle keep-alive connections handed to the process that took over at a reload (plain HTTP)")  \
  X(connections_adopted, "ringgate_connections_adopted_total", "counter",                         \
    "Idle keep-alive connections taken over from the process this one replaced")                  \
  X(accept_pauses, "ringgate_accept_pauses_total", "counter",                                     \
    "Times a shard stopped accepting at server.limits.connections (until 5% below it)")           \
  X(requests_1xx, "ringgate_requests_1xx_total", "counter", "Responses with status 1xx (final)")  \
  X(requests_2xx, "ringgate_requests_2xx_total", "counter", "Responses with status 2xx")          \
  X(requests_3xx, "ringgate_requests_3xx_total", "counter", "Responses with status 3xx")          \
  X(requests_4xx, "ringgate_requests_4xx_total", "counter", "Responses with status 4xx")          \
  X(requests_5xx, "ringgate_requests_5xx_total", "counter", "Responses with status 5xx")          \
  X(bytes_in, "ringgate_bytes_received_total", "counter", "Bytes received from clients")          \
  X(bytes_out, "ringgate_bytes_sent_total", "counter", "Bytes sent to clients")                   \
  X(bytes_lent, "ringgate_body_bytes_sent_in_place_total", "counter",                             \
    "Proxied response body bytes sent to clients from the upstream's receive buffers (no copy)")  \
  X(parse_bad_request, "ringgate_parse_errors_bad_request_total", "counter",                      \
    "Malformed requests answered 400")                                                            \
  X(parse_uri_too_long, "ringgate_parse_errors_uri_too_long_total", "counter",                    \
    "Requests answered 414 (request target over server.limits.request_line)")                     \
  X(parse_header_too_large, "ringgate_parse_errors_header_too_large_total", "counter",            \
    "Requests answered 431 (header bytes or count over the limits)")                              \
  X(parse_body_too_large, "ringgate_parse_errors_body_too_large_total", "counter",                \
    "Requests answered 413 (body over server.limits.body_bytes)")                                 \
  X(parse_other, "ringgate_parse_errors_other_total", "counter",                                  \
    "Requests refused 417/505 (unsupported expectation or version)")                              \
  X(parse_bad_path, "ringgate_parse_errors_bad_path_total", "counter",                            \
    "Requests answered 400 for their path: a malformed escape, or an encoded slash, backslash, "  \
    "NUL or overlong UTF-8 that the route does not allow")                                        \
  X(header_timeouts, "ringgate_header_timeouts_total", "counter",                                 \
    "Requests answered 408, or connections closed silent, because a head was not received in "    \
    "time (limits.header_timeout, counted from accept for the first request)")                    \
  X(request_timeouts, "ringgate_request_timeouts_total", "counter",                               \
    "Requests answered 408 because the body was not received in time")                            \
  X(idle_timeouts, "ringgate_idle_timeouts_total", "counter",                                     \
    "Keep-alive connections closed after server.limits.idle_timeout")                             \
  X(requests_aborted, "ringgate_requests_aborted_total", "counter",                               \
    "Requests cut off unanswered or half-answered (client gone, stuck reader, drain timeout)")    \
  X(buffer_ring_empty, "ringgate_buffer_ring_empty_total", "counter",                             \
    "Receives that found the provided-buffer ring empty (re-armed when buffers returned)")        \
  X(overload_memory, "ringgate_overload_memory_bytes", "gauge",                                   \
    "Bytes of request and response buffers held, against overload.memory")                        \
  X(overload_memory_budget, "ringgate_overload_memory_budget_bytes", "gauge",                     \
    "overload.memory: the shards shed new work at 95% of it")                                     \
  X(overload_fds, "ringgate_overload_fds", "gauge",                                               \
    "Client and upstream sockets open, against overload.fds")                                     \
  X(overload_fds_budget, "ringgate_overload_fds_budget", "gauge",                                 \
    "overload.fds: the shards shed new work at 95% of it")                                        \
  X(overload_shedding, "ringgate_overload_shedding", "gauge",                                     \
    "Shards shedding new work now (over 95% of a budget, until under 90% of both)")               \
  X(overload_sheds, "ringgate_overload_sheds_total", "counter",                                   \
    "Times a shard started shedding (it also stops accepting until relieved)")                    \
  X(overload_shed_requests, "ringgate_overload_shed_requests_total", "counter",                   \
    "Requests answered 503 with Retry-After because their shard was over a budget")               \
  X(aggregate_calls_budget, "ringgate_aggregate_calls_budget", "gauge",                           \
    "Backend calls aggregate routes may have in flight at once (aggregate.max_calls_in_flight, "  \
    "all shards)")                                                                                \
  X(aggregate_calls_in_flight, "ringgate_aggregate_calls_in_flight", "gauge",                     \
    "Backend calls of aggregate routes in flight")                                                \
  X(aggregate_queued, "ringgate_aggregate_queued_total", "counter",                               \
    "Aggregate requests that found the fan-out budget taken and waited to start")                 \
  X(aggregate_shed, "ringgate_aggregate_shed_total", "counter",                                   \
    "Aggregate requests answered 503 after waiting aggregate.queue_timeout for the budget")       \
  X(batched_waits, "ringgate_batched_waits_total", "counter",                                     \
    "Waits for completions that held out for a batch (server.batch_wait; only while at least 4 "  \
    "client connections are busy, i.e. began a request in the last 100-200 ms)")                  \
  X(batching_shards, "ringgate_batching_shards", "gauge",                                         \
    "Shards whose waits may hold out for a batch now (server.batch_wait; with auto, the shard's " \
    "choice)")                                                                                    \
  X(batch_probes, "ringgate_batch_wait_probes_total", "counter",                                  \
    "batch_wait auto: times a busy shard measured its CPU per request with and without batching") \
  X(batch_switches, "ringgate_batch_wait_switches_total", "counter",                              \
    "batch_wait auto: probes after which the shard changed whether it batches")                   \
  X(registered_sockets, "ringgate_registered_sockets", "gauge",                                   \
    "Client and upstream sockets in the shards' registered file tables (no file lookup per "      \
    "operation)")                                                                                 \
  X(receive_buffer_bytes, "ringgate_receive_buffer_bytes", "gauge",                               \
    "Receive-buffer memory that may be resident (buffers used since they were last given back "   \
    "to the system; server.buffers bounds it)")                                                   \
  X(unregistered_sockets, "ringgate_unregistered_sockets_total", "counter",                       \
    "Sockets used by descriptor because their shard's registered file table was full")            \
  X(h2_connections, "ringgate_http2_connections_total", "counter",                                \
    "Client connections that spoke HTTP/2 (ALPN h2, or the cleartext connection preface)")        \
  X(h2_streams, "ringgate_http2_streams_total", "counter", "HTTP/2 requests (streams) received")  \
  X(h2_resets_received, "ringgate_http2_resets_received_total", "counter",                        \
    "RST_STREAM frames received from clients")                                                    \
  X(h2_streams_reset, "ringgate_http2_streams_reset_total", "counter",                            \
    "HTTP/2 streams the gateway reset (a response that could not be completed)")                  \
  X(h2_header_list_too_large, "ringgate_http2_header_list_too_large_total", "counter",            \
    "HTTP/2 requests whose header list was over server.http2.max_header_list (answered 431)")     \
  X(h2_goaway_calm, "ringgate_http2_goaway_enhance_your_calm_total", "counter",                   \
    "HTTP/2 connections ended with GOAWAY ENHANCE_YOUR_CALM (resets, errors or control frames "   \
    "over their budget)")                                                                         \
  X(h2_protocol_errors, "ringgate_http2_protocol_errors_total", "counter",                        \
    "HTTP/2 connections ended with a GOAWAY other than NO_ERROR or ENHANCE_YOUR_CALM")

struct ShardCounters {
#define RINGGATE_COUNTER_FIELD(field, name, type, help) std::atomic<uint64_t> field{0};
  RINGGATE_SHARD_COUNTERS(RINGGATE_COUNTER_FIELD)
#undef RINGGATE_COUNTER_FIELD
};

// Owner-only update: plain load and store, no locked instruction.
inline void bump(std::atomic<uint64_t>& c, uint64_t by = 1) {
  c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}
inline void drop(std::atomic<uint64_t>& c, uint64_t by = 1) {
  c.store(c.load(std::memory_order_relaxed) - by, std::memory_order_relaxed);
}

}  // namespace ringgate
