#pragma once
// New generations of a running gateway, as a test asks for them: a reload (SIGHUP: a new
// gateway in the same process, the old one drains beside it) or an upgrade (SIGUSR2: a new
// process on the same binary takes the sockets over, the old process drains and exits). The
// processes an upgrade starts become children of the test process once their predecessor exits
// (it is made a subreaper), and are stopped and reaped at the end whatever happened, so that the
// log pipe they share with the first process closes.

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "harness.h"

namespace ringgate::it {

enum class Takeover { kReload, kUpgrade };

inline std::string takeover_name(const testing::TestParamInfo<Takeover>& info) {
  return info.param == Takeover::kReload ? "Reload" : "Upgrade";
}

class Successors {
 public:
  explicit Successors(Takeover how = Takeover::kReload) : how_(how) {
    prctl(PR_SET_CHILD_SUBREAPER, 1);
  }
  ~Successors() {
    for (pid_t pid : pids_) {
      kill(pid, SIGKILL);
      int status = 0;
      waitpid(pid, &status, 0);
    }
  }
  Takeover how() const { return how_; }

  // The process serving `gw` now (the first one, or the newest an upgrade started).
  pid_t serving(const GatewayProcess& gw) const { return pids_.empty() ? gw.pid() : pids_.back(); }
  // Asks for the next generation (SIGHUP or SIGUSR2 to the serving process) and waits until it
  // serves: the pid serving it, or -1.
  pid_t take_over(GatewayProcess& gw, Millis timeout = 10s) {
    kill(serving(gw), how_ == Takeover::kReload ? SIGHUP : SIGUSR2);
    return wait_serving(gw, ++generation_, timeout);
  }
  // Waits for "generation N (pid P) serves" in the log; P, or -1 after `timeout`.
  pid_t wait_serving(GatewayProcess& gw, uint64_t generation, Millis timeout = 10s) {
    const std::string head = "ringgate: generation " + std::to_string(generation) + " (pid ";
    if (!gw.wait_output(head, timeout)) {
      return -1;
    }
    generation_ = std::max(generation_, generation);
    const std::string log = gw.log();
    const pid_t pid = static_cast<pid_t>(std::stol(log.substr(log.find(head) + head.size())));
    if (pid != gw.pid() && std::find(pids_.begin(), pids_.end(), pid) == pids_.end()) {
      pids_.push_back(pid);
    }
    by_generation_[generation] = pid;
    return pid;
  }
  // Waits until generation `generation`, replaced, has drained: its "drained" line (a reload)
  // or its process's exit (an upgrade). True when it ended cleanly within `timeout`.
  bool wait_drained(GatewayProcess& gw, uint64_t generation, Millis timeout = 10s) {
    const auto it = by_generation_.find(generation);
    const pid_t pid = it == by_generation_.end() ? gw.pid() : it->second;
    if (pid == gw.pid() && how_ == Takeover::kUpgrade) {
      return gw.wait_exit(timeout) == 0;
    }
    if (pid != gw.pid()) {
      return wait_exit(pid) == 0;
    }
    return gw.wait_output("ringgate: generation " + std::to_string(generation) + " drained",
                          timeout);
  }
  // The newest process an upgrade started (-1: none yet).
  pid_t last() const { return pids_.empty() ? -1 : pids_.back(); }
  // Waits for `pid` (one of these, replaced by a newer one) to exit; its exit status, or -1.
  int wait_exit(pid_t pid) {
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) {
      return -1;
    }
    std::erase(pids_, pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  // SIGTERM to the serving process; its exit status, or -1.
  int stop(GatewayProcess& gw) {
    if (pids_.empty()) {
      return gw.stop().value_or(-1);
    }
    const pid_t pid = pids_.back();
    kill(pid, SIGTERM);
    return wait_exit(pid);
  }

 private:
  Takeover how_;
  uint64_t generation_ = 1;
  std::vector<pid_t> pids_;
  std::map<uint64_t, pid_t> by_generation_;
};

}  // namespace ringgate::it
