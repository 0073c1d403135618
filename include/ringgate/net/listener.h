#pragma once
// Listening sockets. Every shard gets its own SO_REUSEPORT socket per listener, so the kernel
// spreads connections across shards and no accept queue is shared.

#include <string>

#include "ringgate/net/address.h"

namespace ringgate {

// Opens, binds and listens. On success returns the fd and writes the bound address (with the real
// port when port 0 was asked for) to `bound`; on failure returns -1 with a readable `error`.
int open_listener(const SocketAddress& address, int backlog, std::string& error,
                  SocketAddress* bound = nullptr);

}  // namespace ringgate
