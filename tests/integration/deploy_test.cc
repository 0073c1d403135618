// Running under a service manager: with NOTIFY_SOCKET set (systemd's Type=notify), the gateway
// says READY=1 (with its main PID and where it serves) once it serves, and STOPPING=1 when a
// drain starts; the systemd unit in scripts/ names the binary and the reload the gateway takes.

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fixture.h"
#include "scoped_env.h"
#include "successors.h"

namespace ringgate::it {
namespace {

// A datagram socket bound at `path`: what systemd listens on for notifications.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    bound_ = bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~NotifySocket() { close(fd_); }
  bool bound() const { return bound_; }
  // The next datagram, or "" after `timeout_ms`.
  std::string next(int timeout_ms) {
    std::string out;
    if (recv_some(fd_, out, timeout_ms) != 1) {
      return "";
    }
    return out;
  }

 private:
  int fd_ = -1;
  bool bound_ = false;
};

TEST_F(GatewayTest, TellsTheServiceManagerWhenReadyAndWhenStopping) {
  TempDir dir;
  const std::string path = dir.path() + "/notify";
  NotifySocket sd(path);
  ASSERT_TRUE(sd.bound());
  auto started = [&] {
    test::ScopedEnv env("NOTIFY_SOCKET", path.c_str());  // inherited by the gateway started now
    return std::make_unique<GatewayProcess>(make_config(ConfigSpec{}));
  }();
  GatewayProcess& gw = *started;
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string ready = sd.next(3000);
  EXPECT_NE(ready.find("READY=1\n"), std::string::npos) << ready;
  EXPECT_NE(ready.find("MAINPID=" + std::to_string(gw.pid()) + "\n"), std::string::npos) << ready;
  EXPECT_NE(ready.find("STATUS=serving on 127.0.0.1:" + std::to_string(gw.port())),
            std::string::npos)
      << ready;
  gw.signal(SIGTERM);
  const std::string stopping = sd.next(3000);
  EXPECT_NE(stopping.find("STOPPING=1\n"), std::string::npos) << stopping;
  EXPECT_EQ(gw.wait_exit(10s), 0);
}

// A new generation under systemd. A reload (in the same process) says RELOADING=1 and then
// READY=1 again; an upgrade's new process says READY=1 with its own MAINPID (the unit allows it
// with NotifyAccess=all). The old generation never says STOPPING=1, which would read as the
// service going down.
class DeployReloadTest : public GatewayTest, public ::testing::WithParamInterface<Takeover> {};
INSTANTIATE_TEST_SUITE_P(, DeployReloadTest,
                         ::testing::Values(Takeover::kReload, Takeover::kUpgrade), takeover_name);

TEST_P(DeployReloadTest, ANewGenerationTellsTheServiceManagerItsMainPid) {
  TempDir dir;
  const std::string path = dir.path() + "/notify";
  NotifySocket sd(path);
  ASSERT_TRUE(sd.bound());
  auto started = [&] {
    test::ScopedEnv env("NOTIFY_SOCKET", path.c_str());
    return std::make_unique<GatewayProcess>(make_config(ConfigSpec{}));
  }();
  GatewayProcess& gw = *started;
  ASSERT_TRUE(gw.ok()) << gw.error();
  EXPECT_NE(sd.next(3000).find("READY=1\n"), std::string::npos);
  Successors successors(GetParam());
  const pid_t next = successors.take_over(gw);
  ASSERT_GT(next, 0) << gw.log();
  if (GetParam() == Takeover::kReload) {
    EXPECT_EQ(next, gw.pid());
    const std::string reloading = sd.next(3000);
    EXPECT_NE(reloading.find("RELOADING=1\n"), std::string::npos) << reloading;
  }
  const std::string ready = sd.next(3000);
  EXPECT_NE(ready.find("READY=1\n"), std::string::npos) << ready;
  EXPECT_NE(ready.find("MAINPID=" + std::to_string(next) + "\n"), std::string::npos) << ready;
  EXPECT_TRUE(successors.wait_drained(gw, 1));
  EXPECT_EQ(sd.next(300), "");  // nothing from the old generation as it drained
  EXPECT_EQ(successors.stop(gw), 0);
  EXPECT_NE(sd.next(3000).find("STOPPING=1\n"), std::string::npos);  // the new one, on SIGTERM
}

// The unit starts what `scripts/install` puts in place, checks the config first, reloads with
// SIGHUP and raises the open-file limit the shards need; systemd itself finds nothing wrong
// with it (systemd-analyze verify: no unknown key, no bad value, the command exists).
TEST(Deployment, TheSystemdUnitIsValidAndRunsTheInstalledBinaryAsNotify) {
  std::ifstream in(std::string(RINGGATE_SOURCE_DIR) + "/scripts/systemd/ringgate.service");
  ASSERT_TRUE(in) << "scripts/systemd/ringgate.service is missing";
  std::stringstream unit;
  unit << in.rdbuf();
  std::string text = unit.str();
  for (const char* line :
       {"Type=notify\n", "ExecStartPre=/usr/local/bin/ringgate -t -c /etc/ringgate/ringgate.yaml\n",
        "ExecStart=/usr/local/bin/ringgate -c /etc/ringgate/ringgate.yaml\n",
        "ExecReload=/bin/kill -HUP $MAINPID\n", "LimitNOFILE=1048576\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
  // The binary is not installed here: the unit is verified against the one just built.
  for (size_t at; (at = text.find("/usr/local/bin/ringgate")) != std::string::npos;) {
    text.replace(at, 23, RINGGATE_BINARY);
  }
  TempDir dir;
  const std::string path = dir.write("ringgate.service", text);
  const CommandResult r = run_command({"systemd-analyze", "verify", path}, 30s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "") << "systemd warns about the unit";
}

// scripts/install into a staging root: the binary, the unit and the config where the unit
// looks for them, and the installed binary accepts the installed config; a second install keeps
// a config the operator changed.
TEST(Deployment, InstallPutsBinaryUnitAndConfigInPlace) {
  TempDir dest;
  const std::string build_dir =
      std::string(RINGGATE_BINARY).substr(0, std::string(RINGGATE_BINARY).rfind('/'));
  const std::vector<std::string> install = {"env", "DESTDIR=" + dest.path(), "SKIP_BUILD=1",
                                            "BUILD_DIR=" + build_dir,
                                            std::string(RINGGATE_SOURCE_DIR) + "/scripts/install"};
  CommandResult r = run_command(install, 60s);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string bin = dest.path() + "/usr/local/bin/ringgate";
  const std::string conf = dest.path() + "/etc/ringgate/ringgate.yaml";
  EXPECT_EQ(access(bin.c_str(), X_OK), 0);
  EXPECT_EQ(access((dest.path() + "/etc/systemd/system/ringgate.service").c_str(), R_OK), 0);
  r = run_command({bin, "-t", "-c", conf});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  std::ofstream(conf, std::ios::app) << "# changed by the operator\n";
  r = run_command(install, 60s);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("exists: kept"), std::string::npos) << r.out;
  std::ifstream in(conf);
  std::stringstream kept;
  kept << in.rdbuf();
  EXPECT_NE(kept.str().find("# changed by the operator"), std::string::npos);
}

}  // namespace
}  // namespace ringgate::it
