#pragma once
// The systemd notification protocol (sd_notify(3)), without libsystemd: when the service manager
// set NOTIFY_SOCKET (a unit with Type=notify), state lines go to that datagram socket: READY=1
// once every listener is bound and every shard serves, STOPPING=1 when a drain starts. Without
// NOTIFY_SOCKET nothing is sent.

#include <string_view>

namespace ringgate {

// Sends `state` ("READY=1\nSTATUS=...") to $NOTIFY_SOCKET. False when unset or the send failed.
bool notify_service_manager(std::string_view state);

}  // namespace ringgate
