#include "ringgate/server/handover.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "ringgate/net/socket.h"

extern char** environ;

namespace ringgate {

namespace {

constexpr const char* kChannelVariable = "RINGGATE_HANDOVER_FD";

// The state file: (key size, value size, key, value) after one another.
void read_state(int fd, HandoverState& state) {
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    return;
  }
  std::string blob(static_cast<size_t>(st.st_size), '\0');
  if (pread(fd, blob.data(), blob.size(), 0) != static_cast<ssize_t>(blob.size())) {
    return;
  }
  size_t at = 0;
  while (at + 16 <= blob.size()) {
    uint64_t sizes[2];
    memcpy(sizes, blob.data() + at, sizeof sizes);
    at += sizeof sizes;
    if (sizes[0] > blob.size() - at || sizes[1] > blob.size() - at - sizes[0]) {
      return;
    }
    std::string key = blob.substr(at, sizes[0]);
    state[std::move(key)] = blob.substr(at + sizes[0], sizes[1]);
    at += sizes[0] + sizes[1];
  }
}

std::string exit_text(int status) {
  if (WIFEXITED(status)) {
    return "exited with status " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return std::string("was killed by ") + strsignal(WTERMSIG(status));
  }
  return "stopped";
}

}  // namespace

std::string own_executable_path() {
  char path[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) {
    return "/proc/self/exe";
  }
  std::string out(path, static_cast<size_t>(n));
  constexpr std::string_view kDeleted = " (deleted)";  // replaced since this process started
  if (out.size() > kDeleted.size() && out.ends_with(kDeleted)) {
    out.resize(out.size() - kDeleted.size());
  }
  return out;
}

void name_process(const std::string& executable) {
  // A successor runs /proc/self/exe: without this its name (ps, pidof, top) would be "exe".
  const size_t slash = executable.rfind('/');
  const std::string base = executable.substr(slash == std::string::npos ? 0 : slash + 1);
  prctl(PR_SET_NAME, base.substr(0, 15).c_str());
}

bool start_successor(const std::string& exe, const std::string& name,
                     const std::vector<std::string>& args, uint64_t generation,
                     const std::vector<std::pair<std::string, int>>& sockets,
                     const HandoverState& state, Successor& out, std::string& error) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    error = std::string("socketpair: ") + strerror(errno);
    return false;
  }
  // Everything the child needs is made before fork: between fork and exec a threaded process may
  // only make async-signal-safe calls.
  std::vector<std::string> env_text;
  for (char** e = environ; *e; ++e) {
    if (strncmp(*e, kChannelVariable, strlen(kChannelVariable)) != 0) {
      env_text.emplace_back(*e);
    }
  }
  env_text.push_back(std::string(kChannelVariable) + "=" + std::to_string(pair[1]));
  std::vector<char*> envp;
  for (std::string& e : env_text) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);
  std::vector<std::string> argv_text{name};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_text) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);

  const pid_t pid = fork();
  if (pid < 0) {
    error = std::string("fork: ") + strerror(errno);
    close(pair[0]);
    close(pair[1]);
    return false;
  }
  if (pid == 0) {
    // The child: its end of the channel survives exec; signals as a fresh process has them.
    fcntl(pair[1], F_SETFD, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(exe.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  close(pair[1]);
  out.pid = pid;
  out.channel = pair[0];
  bool sent = send_with_descriptor(out.channel, "generation " + std::to_string(generation), -1);
  for (const auto& [key, fd] : sockets) {
    sent = sent && send_with_descriptor(out.channel, "socket " + key, fd);
  }
  // The state goes in a memory file (a rate-limit table is too large for a message).
  const int state_fd = memfd_create("ringgate-handover", MFD_CLOEXEC);
  if (state_fd >= 0) {
    std::string blob;
    for (const auto& [key, value] : state) {
      const uint64_t sizes[2] = {key.size(), value.size()};
      blob.append(reinterpret_cast<const char*>(sizes), sizeof sizes);
      blob += key;
      blob += value;
    }
    size_t done = 0;
    while (done < blob.size()) {
      const ssize_t n = write(state_fd, blob.data() + done, blob.size() - done);
      if (n <= 0) {
        break;
      }
      done += static_cast<size_t>(n);
    }
    sent = sent && done == blob.size() && send_with_descriptor(out.channel, "state", state_fd);
    close(state_fd);
  }
  sent = sent && send_with_descriptor(out.channel, "end", -1);
  if (!sent) {
    // The child died at once (exec failed): poll_successor reports how.
    error = "the new process did not take the sockets";
  }
  fcntl(out.channel, F_SETFL, O_NONBLOCK);
  return true;
}

SuccessorState poll_successor(Successor& s, std::string& why) {
  char buf[16];
  const ssize_t n = recv(s.channel, buf, sizeof buf, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
    return SuccessorState::kStarting;
  }
  if (n > 0 && std::string(buf, static_cast<size_t>(n)) == "ready") {
    fcntl(s.channel, F_SETFL, 0);  // blocking again: the shards send connections over it
    return SuccessorState::kReady;
  }
  close(s.channel);
  s.channel = -1;
  int status = 0;
  // The channel closed: the process has exited or is about to.
  pid_t got;
  do {
    got = waitpid(s.pid, &status, 0);
  } while (got < 0 && errno == EINTR);
  why = got == s.pid ? "the new process (pid " + std::to_string(s.pid) + ") " + exit_text(status) +
                           " before it was ready"
                     : "the new process closed the channel before it was ready";
  s.pid = -1;
  return SuccessorState::kFailed;
}

void abandon_successor(Successor& s) {
  if (s.pid > 0) {
    kill(s.pid, SIGKILL);
    int status = 0;
    while (waitpid(s.pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (s.channel >= 0) {
    close(s.channel);
  }
  s = Successor{};
}

bool receive_handover(std::map<std::string, int>& sockets, HandoverState& state,
                      uint64_t& generation, int& channel, std::string& error) {
  generation = 1;
  channel = -1;
  const char* value = getenv(kChannelVariable);
  if (!value) {
    return true;
  }
  channel = atoi(value);
  unsetenv(kChannelVariable);  // not for this process's own successors
  fcntl(channel, F_SETFD, FD_CLOEXEC);
  std::string text;
  int fd = -1;
  while (receive_with_descriptor(channel, text, fd)) {
    if (text == "end") {
      return true;
    }
    if (text.rfind("generation ", 0) == 0) {
      generation = strtoull(text.c_str() + 11, nullptr, 10);
    } else if (text.rfind("socket ", 0) == 0 && fd >= 0) {
      sockets[text.substr(7)] = fd;
    } else if (text == "state" && fd >= 0) {
      read_state(fd, state);
      close(fd);
    } else if (fd >= 0) {
      close(fd);
    }
  }
  error = "the previous process's channel ended before its sockets were sent";
  for (auto& [key, socket] : sockets) {
    close(socket);
  }
  sockets.clear();
  return false;
}

void tell_ready(int channel) {
  if (channel >= 0) {
    send_with_descriptor(channel, "ready", -1);
  }
}

void receive_connections(int channel,
                         const std::function<void(const std::string& what, int fd)>& adopt) {
  std::string text;
  int fd = -1;
  while (receive_with_descriptor(channel, text, fd)) {
    if (fd >= 0) {
      adopt(text, fd);
    }
  }
}

}  // namespace ringgate
