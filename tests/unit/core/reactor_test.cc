#include "ringgate/core/reactor.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "scoped_env.h"

// The public header is backend-neutral: including it must not bring in liburing.
#ifdef LIB_URING_H
#error "ringgate/core/reactor.h pulls in liburing; only src/core may include it"
#endif

namespace ringgate {
namespace {

struct Result {
  unsigned op;
  int res;
  uint32_t flags;
};

struct Recorder final : Completion {
  void complete(unsigned op, int res, uint32_t flags) override {
    results.push_back({op, res, flags});
  }
  std::vector<Result> results;
};

// A small reactor (4 KiB buffers) on `backend`, or false where the host refuses it (io_uring
// blocked).
bool init_small(Reactor& reactor, std::string& error, const char* backend = "io_uring",
                uint32_t entries = 8, uint32_t buffer_count = 8, uint32_t file_slots = 0) {
  ReactorOptions options;
  options.entries = entries;
  options.buffer_size = 4096;
  options.buffer_count = buffer_count;
  options.file_slots = file_slots;
  test::ScopedEnv env("RINGGATE_REACTOR", backend);
  return reactor.init(options, error);
}

// The contract tests run on both backends: whatever runs, the layers above see the same
// completions.
class ReactorBackend : public ::testing::TestWithParam<const char*> {
 protected:
  bool init(Reactor& reactor, std::string& error, uint32_t entries = 8, uint32_t buffer_count = 8) {
    return init_small(reactor, error, GetParam(), entries, buffer_count);
  }
  bool epoll() const { return std::string(GetParam()) == "epoll"; }
};

// Waits and dispatches until `recorder` holds `n` results or a few rounds have passed.
void pump(Reactor& reactor, const Recorder& recorder, size_t n) {
  for (int round = 0; round < 50 && recorder.results.size() < n; ++round) {
    reactor.wait(100);
    reactor.dispatch();
  }
}

TEST(Reactor, CompletionFlagHelpers) {
  EXPECT_TRUE(cqe_more(kCompletionMore));
  EXPECT_FALSE(cqe_more(kCompletionBuffer));
  EXPECT_TRUE(cqe_has_buffer(kCompletionBuffer | (7u << kCompletionBufferShift)));
  EXPECT_FALSE(cqe_has_buffer(kCompletionMore));
  EXPECT_EQ(cqe_buffer_id(kCompletionBuffer | kCompletionMore | (4095u << kCompletionBufferShift)),
            4095);
}

// server.batch_wait: auto batches where a syscall is dear, and the set-up line says what it timed
// and what it chose.
TEST(Reactor, AutoBatchWaitFollowsTheSyscallCost) {
  EXPECT_EQ(auto_batch_wait_us(120), 0u);
  EXPECT_EQ(auto_batch_wait_us(kCostlySyscallNs - 1), 0u);
  EXPECT_EQ(auto_batch_wait_us(kCostlySyscallNs), kAutoBatchWaitUs);
  EXPECT_EQ(auto_batch_wait_us(950), 50u);
  const uint32_t ns = syscall_cost_ns();
  EXPECT_GT(ns, 0u);
  EXPECT_LT(ns, 1000000u);
  EXPECT_EQ(syscall_cost_ns(), ns) << "timed once per process";

  Reactor reactor;
  ReactorOptions options;
  options.entries = 8;
  options.buffer_size = 4096;
  options.buffer_count = 8;
  options.batch_wait_auto = true;
  std::string error;
  test::ScopedEnv env("RINGGATE_REACTOR", "io_uring");
  if (!reactor.init(options, error)) {
    GTEST_SKIP() << error;
  }
  // The batch wait is there either way (each shard's BatchTuner may turn batching on or off);
  // the syscall's cost picks where the shards start, and the note says so.
  const bool dear = auto_batch_wait_us(ns) > 0;
  const std::string why = std::string(" (auto: ") + (dear ? "on" : "off") +
                          " to start, as a syscall costs " + std::to_string(ns) + " ns here, " +
                          (dear ? "at least" : "under") +
                          " 500; each shard measures both under load and keeps the cheaper)";
  const std::string& note = reactor.setup_note();
  if (note.find("; batch_wait ignored (kernel lacks IORING_FEAT_MIN_TIMEOUT") !=
      std::string::npos) {
    EXPECT_NE(note.find(why), std::string::npos) << note;
    EXPECT_EQ(reactor.batch_wait_us(), 0u);
    EXPECT_FALSE(reactor.batch_first());
  } else {
    EXPECT_NE(note.find("; batch_wait 50us" + why), std::string::npos) << note;
    EXPECT_EQ(reactor.batch_wait_us(), kAutoBatchWaitUs);
    EXPECT_EQ(reactor.batch_first(), dear);
  }
}

TEST_P(ReactorBackend, ReadCompletesWithItsTag) {
  Reactor reactor;
  std::string error;
  if (!init(reactor, error)) {
    GTEST_SKIP() << error;
  }
  EXPECT_FALSE(reactor.setup_note().empty());
  int efd = eventfd(0, EFD_CLOEXEC);
  ASSERT_GE(efd, 0);
  Recorder recorder;
  uint64_t value = 0;
  reactor.submit_read(efd, &value, sizeof value, &recorder, 5);
  uint64_t one = 3;
  ASSERT_EQ(write(efd, &one, sizeof one), static_cast<ssize_t>(sizeof one));
  pump(reactor, recorder, 1);
  ASSERT_EQ(recorder.results.size(), 1u);
  EXPECT_EQ(recorder.results[0].op, 5u);
  EXPECT_EQ(recorder.results[0].res, static_cast<int>(sizeof value));
  EXPECT_EQ(value, 3u);
  // A close has no completion of its own: only the read queued after it reports.
  reactor.submit_close(efd);
  int efd2 = eventfd(1, EFD_CLOEXEC);
  ASSERT_GE(efd2, 0);
  reactor.submit_read(efd2, &value, sizeof value, &recorder, 6);
  pump(reactor, recorder, 2);
  reactor.wait(0);
  reactor.dispatch();
  ASSERT_EQ(recorder.results.size(), 2u);
  EXPECT_EQ(recorder.results[1].op, 6u);
  close(efd2);
}

// Multishot recv picks buffers from the pool; the flags name the buffer and say it stays armed,
// and it ends without `more` at end of stream.
TEST_P(ReactorBackend, MultishotRecvLendsBuffers) {
  Reactor reactor;
  std::string error;
  if (!init(reactor, error)) {
    GTEST_SKIP() << error;
  }
  EXPECT_EQ(reactor.buffer_size(), 4096u);
  EXPECT_EQ(reactor.buffer_count(), 8u);
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  Recorder recorder;
  reactor.submit_recv_multishot(fds[0], &recorder, 2);
  const char msg[] = "hello";
  ASSERT_EQ(write(fds[1], msg, 5), 5);
  pump(reactor, recorder, 1);
  ASSERT_EQ(recorder.results.size(), 1u);
  const Result& got = recorder.results[0];
  EXPECT_EQ(got.op, 2u);
  ASSERT_EQ(got.res, 5);
  ASSERT_TRUE(cqe_has_buffer(got.flags));
  EXPECT_TRUE(cqe_more(got.flags));
  const uint16_t bid = cqe_buffer_id(got.flags);
  ASSERT_LT(bid, reactor.buffer_count());
  EXPECT_EQ(std::memcmp(reactor.buffer(bid), msg, 5), 0);
  reactor.note_buffer_taken();
  EXPECT_EQ(reactor.buffers_out(), 1u);
  reactor.recycle(bid);
  EXPECT_EQ(reactor.buffers_out(), 0u);

  // Every buffer can be lent again, the recycled one included.
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(write(fds[1], msg, 5), 5);
    size_t want = recorder.results.size() + 1;
    pump(reactor, recorder, want);
    ASSERT_EQ(recorder.results.size(), want);
    const Result& r = recorder.results.back();
    ASSERT_EQ(r.res, 5);
    ASSERT_TRUE(cqe_has_buffer(r.flags));
    reactor.note_buffer_taken();
    reactor.recycle(cqe_buffer_id(r.flags));
  }

  shutdown(fds[1], SHUT_WR);
  size_t want = recorder.results.size() + 1;
  pump(reactor, recorder, want);
  ASSERT_EQ(recorder.results.size(), want);
  EXPECT_EQ(recorder.results.back().res, 0);
  EXPECT_FALSE(cqe_more(recorder.results.back().flags));
  close(fds[0]);
  close(fds[1]);
}

TEST_P(ReactorBackend, CancelEndsAnOperation) {
  Reactor reactor;
  std::string error;
  if (!init(reactor, error)) {
    GTEST_SKIP() << error;
  }
  int efd = eventfd(0, EFD_CLOEXEC);
  ASSERT_GE(efd, 0);
  Recorder recorder;
  uint64_t value = 0;
  reactor.submit_read(efd, &value, sizeof value, &recorder, 1);
  reactor.flush();
  reactor.submit_cancel(&recorder, 1);
  pump(reactor, recorder, 1);
  ASSERT_EQ(recorder.results.size(), 1u);
  EXPECT_EQ(recorder.results[0].res, -ECANCELED);
  close(efd);
}

// The sockets in the kernel's file table of this process's io_uring instance (one alive), as
// /proc/self/fdinfo lists them; -1 when there is none.
int kernel_registered_sockets() {
  for (int fd = 0; fd < 1024; ++fd) {
    char link[PATH_MAX] = {};
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    if (readlink(path.c_str(), link, sizeof link - 1) <= 0 ||
        std::string(link) != "anon_inode:[io_uring]") {
      continue;
    }
    std::ifstream info("/proc/self/fdinfo/" + std::to_string(fd));
    std::string line;
    int sockets = 0;
    while (std::getline(info, line)) {
      sockets += line.find(": socket:[") != std::string::npos;
    }
    return sockets;
  }
  return -1;
}

// Receives `text` on `fd` through the reactor (op 1) after the peer wrote it.
std::string receive(Reactor& reactor, int fd, int peer, const std::string& text) {
  Recorder recorder;
  char buf[64] = {};
  reactor.submit_recv(fd, buf, sizeof buf, &recorder, 1);
  EXPECT_EQ(write(peer, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  pump(reactor, recorder, 1);
  if (recorder.results.size() != 1 || recorder.results[0].res <= 0) {
    return "(receive failed: " +
           std::to_string(recorder.results.empty() ? 0 : recorder.results[0].res) + ")";
  }
  return std::string(buf, static_cast<size_t>(recorder.results[0].res));
}

// Sends `text` from `fd` through the reactor and reads it at the peer.
std::string send_through(Reactor& reactor, int fd, int peer, const std::string& text) {
  Recorder recorder;
  reactor.submit_send(fd, text.data(), text.size(), &recorder, 2);
  pump(reactor, recorder, 1);
  char buf[64] = {};
  const ssize_t n = read(peer, buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "(send failed)";
}

// Registered sockets are used by their slot in the ring's file table; with the table full a
// socket goes by descriptor; a closed socket's slot is free again only after its batch was
// submitted, so nothing still queued for the old socket can reach the next one.
TEST(Reactor, RegisteredSocketsWorkAndGiveTheirSlotsBack) {
  Reactor reactor;
  std::string error;
  if (!init_small(reactor, error, "io_uring", 16, 8, 2)) {
    GTEST_SKIP() << error;
  }
  if (reactor.setup_note().find("2 registered file slots") == std::string::npos) {
    GTEST_SKIP() << "registered files refused: " << reactor.setup_note();
  }
  int pairs[4][2];
  for (auto& p : pairs) {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p), 0);
  }
  reactor.register_fd(pairs[0][0]);
  reactor.register_fd(pairs[1][0]);
  reactor.register_fd(pairs[2][0]);  // the table is full: by descriptor
  EXPECT_EQ(reactor.registered_fds(), 2u);
  EXPECT_EQ(reactor.unregistered_fds(), 1u);
  for (int i = 0; i < 3; ++i) {
    const std::string text = "to " + std::to_string(i);
    EXPECT_EQ(receive(reactor, pairs[i][0], pairs[i][1], text), text);
    EXPECT_EQ(send_through(reactor, pairs[i][0], pairs[i][1], "from " + text), "from " + text);
  }
  EXPECT_EQ(kernel_registered_sockets(), 2);

  // Closing gives the slot back once the close is submitted.
  reactor.submit_close(pairs[0][0]);
  EXPECT_EQ(reactor.registered_fds(), 1u);
  reactor.wait(0);
  reactor.dispatch();
  EXPECT_EQ(kernel_registered_sockets(), 1);
  reactor.register_fd(pairs[3][0]);
  EXPECT_EQ(reactor.registered_fds(), 2u);
  EXPECT_EQ(receive(reactor, pairs[3][0], pairs[3][1], "reused"), "reused");
  EXPECT_EQ(kernel_registered_sockets(), 2);

  // A slot freed in this batch is not lent again in it.
  reactor.submit_close(pairs[1][0]);
  int extra[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, extra), 0);
  reactor.register_fd(extra[0]);
  EXPECT_EQ(reactor.unregistered_fds(), 2u);
  EXPECT_EQ(receive(reactor, extra[0], extra[1], "by descriptor"), "by descriptor");

  reactor.submit_close(pairs[3][0]);
  reactor.submit_close(pairs[2][0]);
  reactor.submit_close(extra[0]);
  reactor.flush();
  EXPECT_EQ(reactor.registered_fds(), 0u);
  EXPECT_EQ(kernel_registered_sockets(), 0);
  for (auto& p : pairs) {
    close(p[1]);
  }
  close(extra[1]);
}

// Receive buffers: the ring is lent a working set, not every buffer; demand beyond it (a
// burst that empties the ring) grows it, and once the burst is over the trim shrinks it again and
// gives the free buffers' memory back.
TEST_P(ReactorBackend, ReceiveBuffersFollowDemandAndAreGivenBack) {
  Reactor reactor;
  std::string error;
  if (!init(reactor, error, 512, 1024)) {
    GTEST_SKIP() << error;
  }
  constexpr uint64_t kSize = 4096;
  // io_uring lends the ring a working set; epoll takes a buffer when data is there to read.
  const uint32_t initial = reactor.buffers_in_ring();
  if (epoll()) {
    EXPECT_EQ(initial, 0u);
  } else {
    EXPECT_GE(initial, 16u);
    EXPECT_LT(initial, 1024u / 4);
  }
  EXPECT_EQ(reactor.buffer_bytes_resident(), 0u);  // nothing written yet

  // A burst: 300 sockets with data at once, more than the ring holds.
  constexpr int kSockets = 300;
  std::vector<std::array<int, 2>> pairs(kSockets);
  Recorder recorder;
  for (auto& p : pairs) {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p.data()), 0);
    reactor.submit_recv_multishot(p[0], &recorder, 1);
  }
  reactor.flush();
  for (auto& p : pairs) {
    ASSERT_EQ(write(p[1], "burst", 5), 5);
  }
  std::vector<uint16_t> held;
  size_t starved = 0;
  for (int round = 0; round < 20; ++round) {
    reactor.wait(20);
    reactor.dispatch();
    for (const Result& r : recorder.results) {
      if (r.res > 0 && cqe_has_buffer(r.flags)) {
        reactor.note_buffer_taken();
        held.push_back(cqe_buffer_id(r.flags));
      } else if (r.res == -ENOBUFS) {
        ++starved;
      }
    }
    recorder.results.clear();
  }
  // The ring ran dry at least once and grew: every socket got a buffer in the end or is starved.
  // epoll: every socket got one (the free stack holds 1024, an eighth kept for take()).
  EXPECT_GT(starved + held.size(), 0u);
  EXPECT_GT(held.size(), initial);
  EXPECT_GT(reactor.buffers_in_ring() + held.size(), initial);
  if (epoll()) {
    EXPECT_EQ(held.size(), static_cast<size_t>(kSockets));
    EXPECT_EQ(starved, 0u);
  }
  const uint64_t peak = reactor.buffer_bytes_resident();
  EXPECT_GE(peak, held.size() * kSize);

  for (uint16_t bid : held) {
    reactor.recycle(bid);
  }
  EXPECT_EQ(reactor.buffers_out(), 0u);
  // The first trim still sees the burst's demand; the next ones shrink the working set (by half
  // at most each) and give every free buffer beyond it back.
  for (int second = 0; second < 10; ++second) {
    reactor.trim_buffers();
  }
  // Quiet seconds give back the ring's unused entries too: what stays resident is at most the
  // next refill's worth of free buffers.
  EXPECT_LT(reactor.buffer_bytes_resident(), peak);
  EXPECT_LE(reactor.buffer_bytes_resident(), 64 * kSize);

  // Buffers given back work as before: a receive into each ring entry after the trim.
  const size_t before = recorder.results.size();
  for (auto& p : pairs) {
    ASSERT_EQ(write(p[1], "again", 5), 5);
  }
  size_t received = 0;
  for (int round = 0; round < 20 && received < 5; ++round) {
    reactor.wait(20);
    reactor.dispatch();
    for (size_t i = before; i < recorder.results.size(); ++i) {
      const Result& r = recorder.results[i];
      if (r.res == 5 && cqe_has_buffer(r.flags)) {
        EXPECT_EQ(std::memcmp(reactor.buffer(cqe_buffer_id(r.flags)), "again", 5), 0);
        reactor.note_buffer_taken();
        reactor.recycle(cqe_buffer_id(r.flags));
        ++received;
      }
    }
    recorder.results.resize(before);
  }
  EXPECT_GT(received, 0u);
  for (auto& p : pairs) {
    close(p[0]);
    close(p[1]);
  }
}

// A send the socket has no room for waits for room (it does not fail, block the loop or
// complete early), and completes once the peer reads.
TEST_P(ReactorBackend, SendWaitsForRoomAndCompletes) {
  Reactor reactor;
  std::string error;
  if (!init(reactor, error)) {
    GTEST_SKIP() << error;
  }
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  const int size = 4096;
  ASSERT_EQ(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size), 0);
  std::vector<char> fill(4096, 'f');
  while (send(fds[0], fill.data(), fill.size(), MSG_DONTWAIT) > 0) {
  }
  Recorder recorder;
  const std::string text(100, 's');
  reactor.submit_send(fds[0], text.data(), text.size(), &recorder, 3);
  for (int round = 0; round < 3; ++round) {
    reactor.wait(20);
    reactor.dispatch();
  }
  EXPECT_TRUE(recorder.results.empty());
  std::vector<char> sink(1 << 16);
  while (recv(fds[1], sink.data(), sink.size(), MSG_DONTWAIT) > 0) {
  }
  pump(reactor, recorder, 1);
  ASSERT_EQ(recorder.results.size(), 1u);
  EXPECT_EQ(recorder.results[0].op, 3u);
  EXPECT_EQ(recorder.results[0].res, 100);
  ssize_t n = recv(fds[1], sink.data(), sink.size(), 0);
  EXPECT_EQ(std::string(sink.data(), static_cast<size_t>(std::max<ssize_t>(n, 0))), text);
  close(fds[0]);
  close(fds[1]);
}

// A TCP listener: the multishot accept hands over each connection (and stays armed), a connect
// completes with 0 (or the refusal's error), and a cancel ends the accept.
TEST_P(ReactorBackend, AcceptConnectAndCancel) {
  Reactor reactor;
  std::string error;
  if (!init(reactor, error)) {
    GTEST_SKIP() << error;
  }
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener, 16), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);

  Recorder accepts;
  reactor.submit_accept_multishot(listener, &accepts, 1);
  Recorder connects;
  std::vector<int> clients;
  for (int i = 0; i < 2; ++i) {
    clients.push_back(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    reactor.submit_connect(clients.back(), reinterpret_cast<sockaddr*>(&addr), sizeof addr,
                           &connects, 2);
  }
  pump(reactor, connects, 2);
  pump(reactor, accepts, 2);
  ASSERT_EQ(connects.results.size(), 2u);
  for (const Result& r : connects.results) {
    EXPECT_EQ(r.res, 0);
  }
  ASSERT_EQ(accepts.results.size(), 2u);
  for (const Result& r : accepts.results) {
    EXPECT_GE(r.res, 0);
    EXPECT_TRUE(cqe_more(r.flags));
    close(r.res);
  }

  // Nobody listens on the port once the listener is gone: the connect is refused.
  reactor.submit_cancel(&accepts, 1);
  pump(reactor, accepts, 3);
  ASSERT_EQ(accepts.results.size(), 3u);
  EXPECT_EQ(accepts.results[2].res, -ECANCELED);
  EXPECT_FALSE(cqe_more(accepts.results[2].flags));
  close(listener);
  const int refused = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  reactor.submit_connect(refused, reinterpret_cast<sockaddr*>(&addr), sizeof addr, &connects, 2);
  pump(reactor, connects, 3);
  ASSERT_EQ(connects.results.size(), 3u);
  EXPECT_EQ(connects.results[2].res, -ECONNREFUSED);
  close(refused);
  for (int fd : clients) {
    close(fd);
  }
}

// With every buffer the receives may use out, a multishot receive ends with -ENOBUFS (the data
// stays in the socket), as io_uring's does when its ring is empty.
TEST_P(ReactorBackend, MultishotRecvEndsWithNoBuffers) {
  Reactor reactor;
  std::string error;
  if (!init(reactor, error, 8, 1)) {  // one buffer
    GTEST_SKIP() << error;
  }
  int a[2];
  int b[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a), 0);
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b), 0);
  Recorder recorder;
  reactor.submit_recv_multishot(a[0], &recorder, 1);
  ASSERT_EQ(write(a[1], "first", 5), 5);
  pump(reactor, recorder, 1);
  ASSERT_EQ(recorder.results.size(), 1u);
  ASSERT_TRUE(cqe_has_buffer(recorder.results[0].flags));
  reactor.note_buffer_taken();  // held, not recycled
  reactor.submit_recv_multishot(b[0], &recorder, 2);
  ASSERT_EQ(write(b[1], "second", 6), 6);
  pump(reactor, recorder, 2);
  ASSERT_EQ(recorder.results.size(), 2u);
  EXPECT_EQ(recorder.results[1].op, 2u);
  EXPECT_EQ(recorder.results[1].res, -ENOBUFS);
  EXPECT_FALSE(cqe_more(recorder.results[1].flags));
  char buf[8];
  EXPECT_EQ(recv(b[0], buf, sizeof buf, MSG_DONTWAIT), 6);  // still there
  reactor.recycle(cqe_buffer_id(recorder.results[0].flags));
  for (int fd : {a[0], a[1], b[0], b[1]}) {
    close(fd);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ReactorBackend, ::testing::Values("io_uring", "epoll"),
                         [](const ::testing::TestParamInfo<const char*>& param) {
                           return std::string(param.param) == "epoll" ? "Epoll" : "IoUring";
                         });

// RINGGATE_REACTOR picks the backend; the set-up line says which runs and why.
TEST(Reactor, BackendIsChosenByTheEnvironment) {
  {
    Reactor reactor;
    std::string error;
    ASSERT_TRUE(init_small(reactor, error, "epoll")) << error;
    EXPECT_STREQ(reactor.backend_name(), "epoll");
    EXPECT_EQ(reactor.setup_note(), "epoll (RINGGATE_REACTOR=epoll)");
  }
  {
    Reactor reactor;
    std::string error;
    EXPECT_FALSE(init_small(reactor, error, "kqueue"));
    EXPECT_NE(error.find("RINGGATE_REACTOR=kqueue: expected auto, io_uring or epoll"),
              std::string::npos)
        << error;
  }
  {
    // auto: io_uring where the host allows it, else epoll saying why.
    Reactor reactor;
    std::string error;
    ASSERT_TRUE(init_small(reactor, error, nullptr)) << error;
    if (std::string(reactor.backend_name()) == "epoll") {
      EXPECT_NE(reactor.setup_note().find("io_uring unavailable"), std::string::npos);
    } else {
      EXPECT_EQ(reactor.setup_note().rfind("io_uring", 0), 0u) << reactor.setup_note();
    }
  }
}

// epoll: a close takes the socket out of the set and drops what still waited on it (the layers
// above close only quiet sockets; a multishot left armed reports nothing after the close).
TEST(Reactor, EpollCloseDropsWhatWaitsOnTheSocket) {
  Reactor reactor;
  std::string error;
  ASSERT_TRUE(init_small(reactor, error, "epoll")) << error;
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  Recorder recorder;
  reactor.submit_recv_multishot(fds[0], &recorder, 1);
  reactor.wait(0);
  reactor.dispatch();
  reactor.submit_close(fds[0]);
  ASSERT_EQ(send(fds[1], "late", 4, MSG_NOSIGNAL), -1);  // the peer is gone
  // The number comes back for the next socket, which works on its own.
  int next[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, next), 0);
  reactor.submit_recv_multishot(next[0], &recorder, 2);
  ASSERT_EQ(write(next[1], "fresh", 5), 5);
  pump(reactor, recorder, 1);
  ASSERT_EQ(recorder.results.size(), 1u);
  EXPECT_EQ(recorder.results[0].op, 2u);
  EXPECT_EQ(recorder.results[0].res, 5);
  reactor.note_buffer_taken();
  reactor.recycle(cqe_buffer_id(recorder.results[0].flags));
  close(fds[1]);
  close(next[0]);
  close(next[1]);
}

}  // namespace
}  // namespace ringgate
