#pragma once
// The Host header a call to a cluster sends: `host:` of a proxied route, of a cluster and of an
// aggregate backend, all written `preserve | endpoint | HOST[:PORT]`.

#include <cstdint>

namespace ringgate {

// kPreserve: the client's Host. kEndpoint: the "host:port" of the endpoint the try goes to, as
// written in the cluster's `endpoints` (a retry to another endpoint names that one). kFixed: a
// configured host[:port], sent as is.
enum class HostPolicy : uint8_t { kPreserve, kEndpoint, kFixed };

}  // namespace ringgate
