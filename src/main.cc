// ringgate: command line, signals, start-up and shutdown.

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "ringgate/config/config.h"
#include "ringgate/demo/demo.h"
#include "ringgate/server/admin.h"
#include "ringgate/server/gateway.h"
#include "ringgate/server/systemd.h"
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
    "signals: SIGTERM/SIGINT drain and exit; SIGUSR1 reopens log files; SIGHUP is ignored (reload "
    "arrives later)\n";

// What the command line asks for.
struct Options {
  std::string config_path;
  bool check = false;
  bool demo = false;
  bool ephemeral = false;
};

// Reads the command line into `out`; -1 to go on, or the exit status (after --version, --help,
// or a usage error).
int parse_options(int argc, char** argv, Options& out) {
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

// Runs until SIGINT or SIGTERM has drained the gateway.
void serve(ringgate::Gateway& gateway, const sigset_t& signals) {
  bool stop_requested = false;
  while (!gateway.finished()) {
    timespec wait{0, 100 * 1000 * 1000};
    int sig = sigtimedwait(&signals, nullptr, &wait);
    if (sig == SIGINT || sig == SIGTERM) {
      if (!stop_requested) {
        fprintf(stderr, "ringgate: %s: draining (up to %lld ms)\n", strsignal(sig),
                static_cast<long long>(gateway.config().server.drain_timeout.count()));
        stop_requested = true;
        ringgate::notify_service_manager("STOPPING=1\nSTATUS=draining\n");
        gateway.request_stop();
      }
    } else if (sig == SIGHUP) {
      fprintf(stderr, "ringgate: SIGHUP: configuration reload is not available yet; ignored\n");
    } else if (sig == SIGUSR1) {
      gateway.reopen_logs();
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
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
    for (const std::string& problem : e.problems()) {
      fprintf(stderr, "ringgate: %s\n", problem.c_str());
    }
    if (e.more() > 0) {
      fprintf(stderr, "ringgate: ... and %zu more\n", e.more());
    }
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

  ringgate::Gateway gateway(config);
  gateway.set_admin_handler(ringgate::make_admin_handler(gateway));
  std::string error;
  if (!gateway.start(error)) {
    fprintf(stderr, "ringgate: %s\n", error.c_str());
    return 1;
  }
  for (const std::string& note : gateway.setup_notes()) {
    fprintf(stderr, "ringgate: %s\n", note.c_str());
  }
  for (const auto& l : gateway.listeners()) {
    fprintf(stderr, "ringgate: %s on %s%s\n", l.admin ? "admin" : "listening",
            l.address.to_string().c_str(), l.tls ? " (https)" : "");
  }
  fprintf(stderr, "ringgate: ready, %u workers\n", gateway.workers());
  fflush(stderr);
  notify_ready(gateway);
  if (demo) {
    ringgate::demo::print_examples(gateway.config(), gateway.listeners(), stdout);
  }
  serve(gateway, signals);
  const bool drained = gateway.wait();
  fprintf(stderr, "ringgate: stopped%s\n", drained ? "" : " (drain timeout: connections cut)");
  return 0;
}
