#pragma once
// Where a draining gateway's idle connections go on a reload: to the gateway that took its
// listening sockets over, in another process (the socket goes over a Unix channel; a TLS session
// cannot follow) or in this one (the socket and its TLS session both move to one of its shards).
// Shards call it from their own threads.

#include <memory>
#include <string_view>

#include "ringgate/tls/config.h"
#include "ringgate/tls/session.h"

namespace ringgate {

class ConnectionSuccessor {
 public:
  virtual ~ConnectionSuccessor() = default;
  // Whether a TLS session can go along (the successor runs in this process).
  virtual bool takes_tls() const = 0;
  // An idle client connection: its socket (the caller's descriptor, which the caller closes
  // after; the successor keeps a copy) and, for a TLS connection, its session. False when it was
  // not taken (the successor is gone): the caller goes on draining it.
  virtual bool take_connection(int fd, std::unique_ptr<TlsSession> tls) = 0;
  // An idle pooled upstream connection of cluster `cluster` to `endpoint` (its address as
  // SocketAddress::to_string writes it), with its session on a TLS cluster, whose settings are
  // `settings`: taken only where the successor's cluster of that name has the same ones.
  virtual bool take_upstream(int fd, std::string_view cluster, std::string_view endpoint,
                             std::unique_ptr<TlsSession> tls,
                             const TlsUpstreamConfig* settings) = 0;
};

}  // namespace ringgate
