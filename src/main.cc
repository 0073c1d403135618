// ringgate: command line, signals, start-up and shutdown.

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ringgate/config/config.h"
#include "ringgate/demo/demo.h"
#include "ringgate/filters/rate_limit.h"
#include "ringgate/server/admin.h"
#include "ringgate/server/gateway.h"
#include "ringgate/server/handover.h"
#include "ringgate/server/systemd.h"
#include "ringgate/tls/server.h"
#include "ringgate/versions.h"

namespace {

constexpr const char* kUsage =
    "usage: ringgate [-c FILE] [--check|-t] [--version|-v]\n"
    "       ringgate demo [-c FILE] [--ephemeral]\n"
    "  -c, --config FILE  configuration file (default: the embedded conf/ringgate.yaml, or\n"
    "                     conf/demo.yaml for demo)\n"
    "  -t, --check        validate the configuration and exit 0 (valid) or 1 (invalid);\n"
    "                     every problem found is listed, and warnings (a route no request\n"
    "                     can reach) do not make it invalid\n"
    "  -v, --version      print versions of ringgate and its libraries\n"
    "  demo               start the demo's services on loopback and the gateway in front of\n"
    "                     them (conf/demo.yaml), and print example requests\n"
    "  --ephemeral        demo: free ports for the services, listeners and admin\n"
    "signals: SIGTERM/SIGINT drain and exit; SIGHUP reloads the configuration (once the file is\n"
    "  valid, new shards in this process take the listening sockets and the idle connections\n"
    "  over); SIGUSR2 upgrades to the binary now at this one's path (a new process takes the\n"
    "  sockets over); SIGUSR1 reopens log files\n";

// What the command line asks for.
struct Options {
  std::string config_path;
  bool check = false;
  bool demo = false;
  bool ephemeral = false;
  std::vector<std::string> args;  // the command line after the program name, for a successor
};

// Reads the command line into `out`; -1 to go on, or the exit status (after --version, --help,
// or a usage error).
int parse_options(int argc, char** argv, Options& out) {
  out.args.assign(argv + 1, argv + argc);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "-c" || a == "--config") && i + 1 < argc) {
      out.config_path = argv[++i];
    } else if (a == "-t" || a == "--check") {
      out.check = true;
    } else if (a == "-v" || a == "--version") {
      fputs(ringgate::version_report().c_str(), stdout);
      return 0;
    } else if (a == "-h" || a == "--help") {
      fputs(kUsage, stdout);
      return 0;
    } else if (a == "demo") {
      out.demo = true;
    } else if (a == "--ephemeral") {
      out.ephemeral = true;
    } else {
      fprintf(stderr, "ringgate: unknown argument '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (out.ephemeral && !out.demo) {
    fprintf(stderr, "ringgate: --ephemeral is for demo only\n%s", kUsage);
    return 2;
  }
  return -1;
}

// Each connection is a descriptor: raise the soft limit to the hard one, as a gateway serving
// server.limits.connections clients needs, and say so when even that is too low.
void raise_file_limit(const ringgate::Config& config) {
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  if (nofile.rlim_cur != RLIM_INFINITY &&
      nofile.rlim_cur < config.server.limits.connections + 64u) {
    fprintf(stderr,
            "ringgate: warning: open-file limit %llu leaves too little room for "
            "server.limits.connections (%u) plus listeners and upstreams\n",
            static_cast<unsigned long long>(nofile.rlim_cur), config.server.limits.connections);
  }
}

// A unit with Type=notify: the service manager learns that the gateway serves.
void notify_ready(const ringgate::Gateway& gateway) {
  std::string state = "READY=1\nMAINPID=" + std::to_string(getpid()) + "\nSTATUS=serving on";
  for (const auto& l : gateway.listeners()) {
    if (!l.admin) {
      state += " " + l.address.to_string();
    }
  }
  state += ", " + std::to_string(gateway.workers()) + " workers\n";
  ringgate::notify_service_manager(state);
}

// Prints a config's problems, each prefixed.
void print_problems(const ringgate::ConfigError& e, const char* prefix) {
  for (const std::string& problem : e.problems()) {
    fprintf(stderr, "ringgate: %s%s\n", prefix, problem.c_str());
  }
  if (e.more() > 0) {
    fprintf(stderr, "ringgate: %s... and %zu more\n", prefix, e.more());
  }
}

// How long a successor process may take to serve before the upgrade is given up (its JWKS URLs
// and DNS names are fetched before it is ready).
constexpr auto kSuccessorTimeout = std::chrono::seconds(60);

// The gateways of this process: the one that serves, and those a reload replaced, draining
// until their last request is answered. A successor process's connections (after an upgrade
// into this one) are adopted by the serving gateway from another thread: `mutex` keeps the
// serving one from changing under it.
struct Generations {
  std::unique_ptr<ringgate::Gateway> serving;
  std::vector<std::unique_ptr<ringgate::Gateway>> draining;
  std::mutex mutex;
  std::atomic<bool> predecessor_process{false};  // the process this one replaced still drains

  // Once per loop turn: frees the gateways that have drained, oldest first (a gateway that
  // still drains hands its idle connections to the one after it, which must outlive it even when
  // it drained first), and says how many still drain.
  void reap() {
    while (!draining.empty() && draining.front()->finished()) {
      ringgate::Gateway& old = *draining.front();
      const bool drained = old.wait();
      fprintf(stderr, "ringgate: generation %llu drained%s\n",
              static_cast<unsigned long long>(old.generation()),
              drained ? "" : " (drain timeout: connections cut)");
      std::lock_guard<std::mutex> lock(mutex);
      draining.erase(draining.begin());
    }
    serving->set_draining_predecessors(static_cast<unsigned>(draining.size()) +
                                       (predecessor_process.load() ? 1 : 0));
  }
  bool finished() const { return serving->finished() && draining.empty(); }
};

// The start-up lines of a gateway that serves now.
void print_serving(const ringgate::Gateway& gateway) {
  for (const std::string& note : gateway.setup_notes()) {
    fprintf(stderr, "ringgate: %s\n", note.c_str());
  }
  for (const auto& l : gateway.listeners()) {
    fprintf(stderr, "ringgate: %s on %s%s\n", l.admin ? "admin" : "listening",
            l.address.to_string().c_str(), l.tls ? " (https)" : "");
  }
}

void print_takeover(const ringgate::Gateway& gateway) {
  fprintf(stderr,
          "ringgate: generation %llu: took over %zu listening sockets and the buckets of %zu "
          "rate-limit policies\n",
          static_cast<unsigned long long>(gateway.generation()), gateway.inherited_count(),
          gateway.rate_limits_kept());
}

// Each socket a gateway hands over, duplicated for a successor in this process (the old
// gateway closes its own as it drains).
std::map<std::string, int> duplicate_sockets(const ringgate::Gateway& gateway) {
  std::map<std::string, int> copies;
  for (const auto& [key, fd] : gateway.handover_sockets()) {
    const int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy >= 0) {
      copies.emplace(key, copy);
    }
  }
  return copies;
}

// Reloads (SIGHUP, POST /reload) and upgrades (SIGUSR2) of a running gateway. A reload happens
// in this process: the config is loaded here, on the main thread; a valid one is served by a
// new gateway on the same listening sockets, and the old one drains, handing its idle
// connections (TLS sessions included) and pooled upstream connections over. An upgrade starts
// the binary now at the start-up path as a new process that takes the sockets over; this process
// drains once it serves, handing over its idle plain connections.
class Reloader {
 public:
  Reloader(Generations& generations, const Options& options, const std::string& executable)
      : generations_(generations), options_(options), executable_(executable) {}

  // `upgrade`: a new process on the binary at the start-up path. `reply`: the POST /reload
  // waiting for the outcome (none for a signal).
  void begin(const char* trigger, bool upgrade, ringgate::Gateway::ReloadDone reply) {
    ringgate::Gateway& current = *generations_.serving;
    if (options_.demo || successor_.pid > 0) {
      const std::string why = options_.demo ? "not available in demo mode"
                                            : std::string("an upgrade is in progress (pid ") +
                                                  std::to_string(successor_.pid) + ")";
      fprintf(stderr, "ringgate: %s: %s; ignored\n", trigger, why.c_str());
      if (reply) {
        reply(ringgate::reload_answer(409, "busy", current.generation(), {}, why, 0));
        current.reload_finished();
      }
      return;
    }
    reply_ = std::move(reply);
    replying_ = &current;
    if (upgrade) {
      start_process(trigger);
    } else {
      reload(trigger);
    }
  }

  // The channel to the successor process that serves now (-1 before).
  int channel() const { return channel_; }

  // Once per loop turn: has the successor process started serving (true: this process drains
  // now), or failed?
  bool poll() {
    if (successor_.pid <= 0) {
      return false;
    }
    const uint64_t generation = generations_.serving->generation();
    std::string why;
    const ringgate::SuccessorState state = ringgate::poll_successor(successor_, why);
    if (state == ringgate::SuccessorState::kReady) {
      fprintf(stderr, "ringgate: generation %llu (pid %d) serves; draining generation %llu\n",
              static_cast<unsigned long long>(generation + 1), successor_.pid,
              static_cast<unsigned long long>(generation));
      const pid_t pid = successor_.pid;
      channel_ = successor_.channel;  // for the idle connections, handed over as we drain
      successor_ = ringgate::Successor{};
      answer(200, "reloaded", generation + 1, {}, "", pid);
      return true;
    }
    if (state == ringgate::SuccessorState::kFailed) {
      fail("upgrade failed: " + why);
    } else if (std::chrono::steady_clock::now() > deadline_) {
      const pid_t pid = successor_.pid;
      ringgate::abandon_successor(successor_);
      fail("upgrade failed: the new process (pid " + std::to_string(pid) + ") was not ready in " +
           std::to_string(kSuccessorTimeout.count()) + " s; killed");
    }
    return false;
  }

 private:
  // A new gateway in this process on the config as the file reads now.
  void reload(const char* trigger) {
    ringgate::Gateway& current = *generations_.serving;
    const uint64_t generation = current.generation() + 1;
    // The service manager shows the unit reloading until READY=1 comes again (either way).
    ringgate::notify_service_manager("RELOADING=1\nSTATUS=reloading\n");
    std::shared_ptr<const ringgate::Config> config;
    try {
      config = std::make_shared<const ringgate::Config>(
          options_.config_path.empty()
              ? ringgate::load_config_string(ringgate::kEmbeddedDefaultConfig, "<embedded>")
              : ringgate::load_config_file(options_.config_path));
    } catch (const ringgate::ConfigError& e) {
      current.count_reload(ringgate::Gateway::Reload::kInvalid);  // before the log says so
      print_problems(e, "reload refused: ");
      std::vector<std::string> problems = e.problems();
      if (e.more() > 0) {
        problems.push_back("... and " + std::to_string(e.more()) + " more");
      }
      answer(422, "refused", current.generation(), problems, "the configuration does not load", 0);
      notify_ready(current);
      return;
    }
    for (const std::string& warning : config->warnings) {
      fprintf(stderr, "ringgate: %s\n", warning.c_str());
    }
    fprintf(stderr, "ringgate: %s: starting generation %llu on %zu sockets\n", trigger,
            static_cast<unsigned long long>(generation), current.handover_sockets().size());
    auto next = std::make_unique<ringgate::Gateway>(config);
    next->set_admin_handler(ringgate::make_admin_handler(*next));
    next->inherit(duplicate_sockets(current));
    next->inherit_rate_limits(current.rate_limit_state());
    next->carry_reload_counts(current);
    next->inherit_upstream_state(current);
    next->set_generation(generation);
    std::string error;
    if (!next->start(error)) {
      next.reset();
      fail("reload failed: " + error);
      notify_ready(current);  // out of RELOADING=1
      return;
    }
    print_serving(*next);
    print_takeover(*next);
    fprintf(stderr, "ringgate: generation %llu (pid %d) serves; draining generation %llu\n",
            static_cast<unsigned long long>(generation), getpid(),
            static_cast<unsigned long long>(generation - 1));
    current.hand_over_and_stop(*next);
    {
      std::lock_guard<std::mutex> lock(generations_.mutex);
      generations_.draining.push_back(std::move(generations_.serving));
      generations_.serving = std::move(next);
    }
    generations_.reap();  // the snapshot count, at once
    notify_ready(*generations_.serving);
    answer(200, "reloaded", generation, {}, "", getpid());
  }

  // A new process on the binary now at the start-up path; it checks the config itself.
  void start_process(const char* trigger) {
    ringgate::Gateway& current = *generations_.serving;
    const uint64_t generation = current.generation() + 1;
    ringgate::HandoverState state;
    state["tls-ticket-secret"] = ringgate::session_ticket_secret();
    // Rate-limit buckets, with the seed their keys are hashed with: an upgrade does not give
    // every client a full bucket again.
    const uint64_t seed = ringgate::rate_limit_seed();
    state["rate-limit-seed"] = std::string(reinterpret_cast<const char*>(&seed), sizeof seed);
    for (auto& [name, buckets] : current.rate_limit_state()) {
      state["rate-limit/" + name] = std::move(buckets);
    }
    std::string error;
    if (!ringgate::start_successor(executable_, executable_, options_.args, generation,
                                   current.handover_sockets(), state, successor_, error)) {
      fail("upgrade failed: " + error);
      return;
    }
    fprintf(stderr, "ringgate: %s: starting generation %llu (pid %d) on %zu sockets\n", trigger,
            static_cast<unsigned long long>(generation), successor_.pid,
            current.handover_sockets().size());
    deadline_ = std::chrono::steady_clock::now() + kSuccessorTimeout;
  }

  void fail(const std::string& why) {
    ringgate::Gateway& current = *generations_.serving;
    current.count_reload(ringgate::Gateway::Reload::kFailed);  // before the log says so
    fprintf(stderr, "ringgate: %s; generation %llu keeps serving\n", why.c_str(),
            static_cast<unsigned long long>(current.generation()));
    answer(500, "failed", current.generation(), {}, why, 0);
  }
  // `replying_` is the gateway whose admin listener took the POST: still alive (draining at
  // worst) when the answer is known.
  void answer(int status, const char* state, uint64_t generation,
              const std::vector<std::string>& problems, const std::string& detail, pid_t pid) {
    if (reply_) {
      reply_(ringgate::reload_answer(status, state, generation, problems, detail, pid));
      reply_ = nullptr;
      replying_->reload_finished();
    }
  }

  Generations& generations_;
  const Options& options_;
  const std::string& executable_;
  ringgate::Successor successor_;
  std::chrono::steady_clock::time_point deadline_;
  ringgate::Gateway::ReloadDone reply_;
  ringgate::Gateway* replying_ = nullptr;
  int channel_ = -1;
};

// Runs until SIGINT or SIGTERM has drained the gateways, or a successor process has taken over
// (SIGUSR2) and this process has drained.
void serve(Generations& generations, const sigset_t& signals, const Options& options,
           const std::string& executable) {
  bool stop_requested = false;
  Reloader reloader(generations, options, executable);
  while (!generations.finished()) {
    timespec wait{0, 100 * 1000 * 1000};
    int sig = sigtimedwait(&signals, nullptr, &wait);
    ringgate::Gateway& gateway = *generations.serving;
    if (sig == SIGINT || sig == SIGTERM) {
      if (!stop_requested) {
        fprintf(stderr, "ringgate: %s: draining (up to %lld ms)\n", strsignal(sig),
                static_cast<long long>(gateway.config().server.drain_timeout.count()));
        stop_requested = true;
        ringgate::notify_service_manager("STOPPING=1\nSTATUS=draining\n");
        gateway.request_stop();
      }
    } else if ((sig == SIGHUP || sig == SIGUSR2) && !stop_requested) {
      reloader.begin(sig == SIGHUP ? "SIGHUP" : "SIGUSR2", sig == SIGUSR2, nullptr);
    } else if (sig == SIGUSR1) {
      gateway.reopen_logs();
      for (auto& old : generations.draining) {
        old->reopen_logs();
      }
    }
    if (auto reply = generations.serving->take_reload_request()) {
      if (stop_requested) {
        reply(ringgate::reload_answer(409, "busy", gateway.generation(), {},
                                      "the gateway is stopping", 0));
        gateway.reload_finished();
      } else {
        reloader.begin("POST /reload", false, std::move(reply));
      }
    }
    for (auto& old : generations.draining) {
      // A keep-alive admin connection of a generation that drains.
      if (auto reply = old->take_reload_request()) {
        reply(ringgate::reload_answer(409, "busy", old->generation(), {},
                                      "this generation is draining", 0));
        old->reload_finished();
      }
    }
    if (reloader.poll()) {
      stop_requested = true;
      generations.serving->hand_over_and_stop(reloader.channel());
    }
    generations.reap();
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything can replace the file: the path a binary upgrade (SIGUSR2) runs again.
  const std::string executable = ringgate::own_executable_path();
  ringgate::name_process(executable);
  Options options;
  if (const int status = parse_options(argc, argv, options); status >= 0) {
    return status;
  }
  const bool demo = options.demo;
  const std::string& config_path = options.config_path;
  const char* embedded_name = demo ? "<embedded demo.yaml>" : "<embedded>";
  ringgate::Config loaded;
  try {
    loaded = config_path.empty()
                 ? ringgate::load_config_string(demo ? ringgate::demo::kEmbeddedDemoConfig
                                                     : ringgate::kEmbeddedDefaultConfig,
                                                embedded_name)
                 : ringgate::load_config_file(config_path);
  } catch (const ringgate::ConfigError& e) {
    print_problems(e, "");
    return 1;
  }
  for (const std::string& warning : loaded.warnings) {
    fprintf(stderr, "ringgate: %s\n", warning.c_str());
  }
  if (options.check) {
    printf("ringgate: configuration %s is valid\n",
           config_path.empty() ? embedded_name : config_path.c_str());
    return 0;
  }

  // Signals are taken by this thread with sigtimedwait; shard threads (the demo's
  // services' too) inherit the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGUSR1);
  sigaddset(&signals, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // The demo's services come up first: the gateway's upstreams point at them (with --ephemeral,
  // at the ports they got).
  ringgate::demo::DemoServices demo_services;
  if (demo) {
    std::string error;
    if (!demo_services.start(loaded, options.ephemeral, error)) {
      fprintf(stderr, "ringgate: %s\n", error.c_str());
      return 1;
    }
    for (const std::string& line : demo_services.describe()) {
      fprintf(stderr, "ringgate: demo service %s\n", line.c_str());
    }
  }
  auto config = std::make_shared<const ringgate::Config>(std::move(loaded));
  raise_file_limit(*config);

  Generations generations;
  generations.serving = std::make_unique<ringgate::Gateway>(config);
  ringgate::Gateway& gateway = *generations.serving;
  gateway.set_admin_handler(ringgate::make_admin_handler(gateway));
  std::string error;
  // Started by a running gateway (an upgrade): its listening sockets, taken over.
  std::map<std::string, int> inherited;
  ringgate::HandoverState state;
  uint64_t generation = 1;
  int predecessor = -1;
  if (!ringgate::receive_handover(inherited, state, generation, predecessor, error)) {
    fprintf(stderr, "ringgate: %s\n", error.c_str());
    return 1;
  }
  // Tickets issued by the predecessor resume here (before any shard runs a handshake).
  if (const auto it = state.find("tls-ticket-secret"); it != state.end()) {
    ringgate::adopt_session_ticket_secret(it->second);
  }
  if (const auto it = state.find("rate-limit-seed"); it != state.end() && it->second.size() == 8) {
    uint64_t seed = 0;
    memcpy(&seed, it->second.data(), sizeof seed);
    ringgate::adopt_rate_limit_seed(seed);
    std::map<std::string, std::string> buckets;
    for (auto& [key, value] : state) {
      if (key.rfind("rate-limit/", 0) == 0) {
        buckets[key.substr(11)] = std::move(value);
      }
    }
    gateway.inherit_rate_limits(std::move(buckets));
  }
  gateway.inherit(std::move(inherited));
  gateway.set_generation(generation);
  if (!gateway.start(error)) {
    fprintf(stderr, "ringgate: %s\n", error.c_str());
    return 1;
  }
  print_serving(gateway);
  if (predecessor >= 0) {
    print_takeover(gateway);
  }
  fprintf(stderr, "ringgate: ready, %u workers\n", gateway.workers());
  fflush(stderr);
  notify_ready(gateway);
  ringgate::tell_ready(predecessor);  // the predecessor stops accepting and drains now
  // ... handing its idle keep-alive connections over, until it exits. They go to whichever
  // gateway serves when they arrive (a reload may have replaced this one meanwhile).
  std::thread adopter;
  if (predecessor >= 0) {
    generations.predecessor_process.store(true);
    gateway.set_draining_predecessors(1);
    adopter = std::thread([&generations, predecessor] {
      ringgate::receive_connections(predecessor, [&generations](const std::string& what, int fd) {
        std::lock_guard<std::mutex> lock(generations.mutex);
        generations.serving->adopt(what, fd);
      });
      generations.predecessor_process.store(false);  // it has exited
    });
  }
  if (demo) {
    ringgate::demo::print_examples(gateway.config(), gateway.listeners(), stdout);
  }
  serve(generations, signals, options, executable);
  if (adopter.joinable()) {
    shutdown(predecessor, SHUT_RDWR);  // a predecessor still draining: stop taking its connections
    adopter.join();
    close(predecessor);
  }
  const bool drained = generations.serving->wait();
  fprintf(stderr, "ringgate: stopped%s\n", drained ? "" : " (drain timeout: connections cut)");
  return 0;
}
