#pragma once
// Listening sockets. Every shard gets its own SO_REUSEPORT socket per listener, so the kernel
// spreads connections across shards and no accept queue is shared; claim_address keeps other
// processes out of the group.

#include <string>

#include "ringgate/net/address.h"

namespace ringgate {

// Makes sure no other process listens on `address` (SO_REUSEPORT would let a second gateway join
// this one's group and take half its connections): returns an fd that holds the address for this
// process until closed, or -1 with "bind ADDRESS: address already in use (another process is
// listening)" in `error`. Call it before the first open_listener of an address; not for port 0.
int claim_address(const SocketAddress& address, std::string& error);

// Opens, binds and listens. On success returns the fd and writes the bound address (with the real
// port when port 0 was asked for) to `bound`; on failure returns -1 with a readable `error`.
int open_listener(const SocketAddress& address, int backlog, std::string& error,
                  SocketAddress* bound = nullptr);

}  // namespace ringgate
