#pragma once
// Handing a running gateway's listening sockets to the process that replaces it: a reload
// (SIGHUP: the same binary on the config file as it is now) or a binary upgrade (SIGUSR2: the
// binary now at the path this one was started from). The old process starts the new one with one
// end of a Unix socket pair (SOCK_SEQPACKET) and sends every listening socket over it
// (SCM_RIGHTS), each named by what it listens for; the new one takes the sockets its config
// names instead of binding them, and says "ready" once it serves. Only then does the old process
// stop accepting and drain: connections waiting in the kernel's accept queues belong to the
// sockets, which the new process holds, so none is refused or lost. If the new process fails
// before it is ready, the old one keeps serving.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ringgate {

// A successor being started: its pid and the old process's end of the channel.
struct Successor {
  pid_t pid = -1;
  int channel = -1;
};

// What a predecessor hands over besides its sockets: named values (the TLS session-ticket
// secret, so that tickets issued before a reload resume after it).
using HandoverState = std::map<std::string, std::string>;

// Starts `exe` (argv[0] `name`, then `args`) as the successor of generation `generation - 1`,
// and sends it `sockets` (key, fd) and `state`. False with `error` when it cannot be started.
bool start_successor(const std::string& exe, const std::string& name,
                     const std::vector<std::string>& args, uint64_t generation,
                     const std::vector<std::pair<std::string, int>>& sockets,
                     const HandoverState& state, Successor& out, std::string& error);

enum class SuccessorState { kStarting, kReady, kFailed };
// Non-blocking: has the successor said it serves? kReady: the channel stays open (blocking) for
// the shards to hand their idle connections over while this process drains. kFailed when it
// exited or closed the channel first (`why` says how); the channel is closed and the process
// reaped then.
SuccessorState poll_successor(Successor& s, std::string& why);
// Gives up on a successor that did not get ready in time: SIGKILL, reaped, channel closed.
void abandon_successor(Successor& s);

// The new process's side. When RINGGATE_HANDOVER_FD is set (this process was started by a
// predecessor), reads the sockets, the state and the generation from it; `channel` stays open for
// tell_ready. Without it: nothing inherited, generation 1, channel -1. False with `error` on a
// broken channel.
bool receive_handover(std::map<std::string, int>& sockets, HandoverState& state,
                      uint64_t& generation, int& channel, std::string& error);
// Tells the predecessor that this process serves; the channel stays open for its connections.
void tell_ready(int channel);
// Until the predecessor closes the channel (it has drained and exited): each idle connection it
// hands over goes to `adopt` with its message: "conn" (a client connection) or "up CLUSTER
// ENDPOINT" (a pooled upstream connection).
void receive_connections(int channel,
                         const std::function<void(const std::string& what, int fd)>& adopt);

// This process's binary as a path to exec later: /proc/self/exe resolved at start (a binary
// upgrade replaces the file at that path; " (deleted)" is not part of the path).
std::string own_executable_path();
// Names this process after `executable`'s file name (what ps and pidof show).
void name_process(const std::string& executable);

}  // namespace ringgate
