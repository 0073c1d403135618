#pragma once
// The one way the gateway opens a TCP socket, for its listeners and for every socket client it
// has (upstream connections, health probes, the Redis link): close-on-exec, and Nagle off, since
// a request head or a lease call that waits for the previous segment's ACK costs a round trip.
// Accepted client sockets inherit TCP_NODELAY from their listener.

namespace ringgate {

// A new stream socket of `family` (AF_INET, AF_INET6), or -errno.
int open_stream_socket(int family);

}  // namespace ringgate
