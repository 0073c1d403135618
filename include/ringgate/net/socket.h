#pragma once
// The one way the gateway opens a TCP socket, for its listeners and for every socket client it
// has (upstream connections, health probes, the Redis link): close-on-exec, and Nagle off, since
// a request head or a lease call that waits for the previous segment's ACK costs a round trip.
// Accepted client sockets inherit TCP_NODELAY from their listener.

#include <string>
#include <string_view>

namespace ringgate {

// A new stream socket of `family` (AF_INET, AF_INET6), or -errno.
int open_stream_socket(int family);

// One message on a Unix SOCK_SEQPACKET socket, with a descriptor (SCM_RIGHTS) when `fd` >= 0: how
// a gateway hands its sockets to the process that replaces it. False when not sent whole.
bool send_with_descriptor(int channel, std::string_view text, int fd);
// The next message; its descriptor (close-on-exec) in `fd`, or -1. False at the end of the
// channel or on an error.
bool receive_with_descriptor(int channel, std::string& text, int& fd);

}  // namespace ringgate
