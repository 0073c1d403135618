// The io_uring floors of bench/run: the least a single-threaded io_uring server does for the
// bench's exchanges, so the bench can say how far ringgate is from what io_uring itself costs on
// the machine at hand (kernel time dominates, and it varies from machine to machine).
//
//   io_uring_floor respond PORT            answers every request head ("\r\n\r\n") with the
//                                          bench's direct response; parses nothing else
//   io_uring_floor forward PORT UPSTREAM   pairs each client connection with one connection to
//                                          127.0.0.1:UPSTREAM and copies bytes both ways (an L4
//                                          forwarder, like HAProxy's mode tcp)
//   io_uring_floor fanout PORT CATALOG INVENTORY REVIEWS ID
//                                          bench/run aggregate's page without a gateway's work:
//                                          for each request head of a client connection, GET
//                                          /products/ID, /inventory/ID and /reviews/ID at once on
//                                          its own three connections to 127.0.0.1, then answers
//                                          {"product":..,"stock":..,"reviews":..} spliced from
//                                          the bodies (stock: the inventory's "count"); finds
//                                          each response's end by its Content-Length, checks
//                                          nothing else
//
// Both use what ringgate's reactor uses at best: one ring per thread with SINGLE_ISSUER,
// DEFER_TASKRUN and COOP_TASKRUN, multishot accept, multishot receive into a provided-buffer
// ring, one submit-and-wait per loop. Variants, for bench/run floors to measure what each saves:
// IO_URING_FLOOR_FIXED=1 registers every socket in the ring's file table (receives and sends
// name the slot: no file lookup per operation), IO_URING_FLOOR_RING_FD=1 registers the ring's
// own descriptor, IO_URING_FLOOR_INC=1 has the kernel fill each buffer incrementally
// (IOU_PBUF_RING_INC, Linux 6.12: small reads share a buffer), IO_URING_FLOOR_BATCH_US=N batches
// completions as ringgate's `server.batch_wait` does (each wait asks for half the open client
// connections' worth of completions, at most 64, and returns N µs after the first one with what is
// there: IORING_FEAT_MIN_TIMEOUT, Linux 6.12). Listens on 127.0.0.1; runs until
// killed. Not a product: no timeouts, no limits, blocking connect to the upstream at accept
// (outside the measured steady state, where wrk's connections are all open).

#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr unsigned kBufferSize = 16384;
constexpr unsigned kBufferCount = 4096;  // power of two
constexpr int kBufferGroup = 0;
constexpr unsigned kQueue = 64;  // buffers waiting to be sent in one direction

constexpr std::string_view kResponse =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 30\r\n\r\n"
    "hello from the ringgate bench\n";

enum Op : uint64_t { kAccept = 1, kRecv = 2, kSend = 3 };

struct Fan;
constexpr int kFanOut = 3;

// One direction of a forwarded pair, or a responder's connection: `fd` receives, `peer` is where
// its bytes go (a forwarder) or the same socket (a responder).
struct Side {
  int fd = -1;
  Side* peer = nullptr;
  bool sending = false;
  struct Pending {
    uint16_t bid;
    uint32_t offset;
    uint32_t length;
  };
  Pending queue[kQueue];
  unsigned head = 0;
  unsigned count = 0;
  // Responder: the "\r\n\r\n" bytes matched so far and the answers owed.
  unsigned matched = 0;
  unsigned owed = 0;
  unsigned in_flight = 0;  // answers in the send in flight
  // Fan-out: the client connection (slot -1) or one of its three upstream connections.
  Fan* fan = nullptr;
  int slot = -1;
};

// Fan-out: one client connection and its three upstream connections. One page at a time (wrk
// waits for each answer); the strings keep their capacity, so steady state allocates nothing.
struct Fan {
  Side client;
  Side up[kFanOut];
  std::string response[kFanOut];  // the bytes received from each upstream for this page
  size_t body_at[kFanOut] = {};   // where the body begins, once the head is whole
  size_t expect[kFanOut] = {};    // head + Content-Length, once the head is whole (0: not yet)
  int waiting = 0;                // upstream responses still due
  bool answering = false;         // the page's answer is being sent
  std::string out;
};

struct Floor {
  io_uring ring{};
  io_uring_buf_ring* buffers = nullptr;
  char* memory = nullptr;
  int listener = -1;
  uint16_t upstream = 0;             // forward mode when not 0
  uint16_t fan_ports[kFanOut] = {};  // fan-out mode when not 0
  std::string fan_requests[kFanOut];
  std::string answers;    // kResponse repeated: pipelined heads are answered in one send
  bool fixed = false;     // sockets registered in the file table, slot = descriptor number
  uint32_t batch_us = 0;  // IO_URING_FLOOR_BATCH_US
  unsigned clients = 0;   // client connections accepted
  // Buffers in use: where the next read into each begins (the kernel fills an incremental
  // buffer from where the last read ended), the reads not yet done with, and whether the kernel
  // is done with it (a read without IORING_CQE_F_BUF_MORE). Without IOU_PBUF_RING_INC every
  // read gets a buffer of its own, which the same bookkeeping handles.
  std::vector<uint32_t> next_offset = std::vector<uint32_t>(kBufferCount);
  std::vector<uint32_t> readers = std::vector<uint32_t>(kBufferCount);
  std::vector<uint8_t> kernel_done = std::vector<uint8_t>(kBufferCount);

  // A read of `res` bytes into `bid`: where it starts.
  uint32_t take(uint16_t bid, int res, unsigned flags) {
    const uint32_t offset = next_offset[bid];
    next_offset[bid] += static_cast<uint32_t>(res > 0 ? res : 0);
    ++readers[bid];
    if (!(flags & kBufMore)) {
      kernel_done[bid] = 1;
    }
    return offset;
  }
  // A read is done with: the buffer goes back once the kernel and every read are done with it.
  void release(uint16_t bid) {
    if (--readers[bid] == 0 && kernel_done[bid]) {
      kernel_done[bid] = 0;
      next_offset[bid] = 0;
      give_back(bid);
    }
  }
  static constexpr unsigned kBufMore = 1u << 4;  // IORING_CQE_F_BUF_MORE (Linux 6.12)

  // Points `s` at side's socket: its slot in the file table, or the descriptor.
  void target(io_uring_sqe* s, int fd) const {
    if (fixed) {
      s->fd = fd;
      s->flags |= IOSQE_FIXED_FILE;
    }
  }

  void unregister_fd(int fd) {
    if (fixed) {
      int none = -1;
      io_uring_register_files_update(&ring, static_cast<unsigned>(fd), &none, 1);
    }
  }

  void register_fd(int fd) {
    if (fixed && io_uring_register_files_update(&ring, static_cast<unsigned>(fd), &fd, 1) != 1) {
      fprintf(stderr, "io_uring_floor: registering descriptor %d failed\n", fd);
      exit(1);
    }
  }

  static uint64_t data(Op op, void* p) { return reinterpret_cast<uint64_t>(p) | op; }

  io_uring_sqe* sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    if (!s) {
      io_uring_submit(&ring);
      s = io_uring_get_sqe(&ring);
    }
    return s;
  }

  void arm_accept() {
    io_uring_sqe* s = sqe();
    io_uring_prep_multishot_accept(s, listener, nullptr, nullptr, 0);
    io_uring_sqe_set_data64(s, kAccept);
  }

  void arm_recv(Side* side) {
    io_uring_sqe* s = sqe();
    io_uring_prep_recv_multishot(s, side->fd, nullptr, 0, 0);
    target(s, side->fd);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = kBufferGroup;
    io_uring_sqe_set_data64(s, data(kRecv, side));
  }

  void give_back(uint16_t bid) {
    io_uring_buf_ring_add(buffers, memory + size_t{bid} * kBufferSize, kBufferSize, bid,
                          io_uring_buf_ring_mask(kBufferCount), 0);
    io_uring_buf_ring_advance(buffers, 1);
  }

  // Sends `n` bytes at `p` on `fd`; the completion goes to `owner`.
  void send_bytes(Side* owner, int fd, const char* p, size_t n) {
    io_uring_sqe* s = sqe();
    io_uring_prep_send(s, fd, p, static_cast<unsigned>(n), MSG_NOSIGNAL);
    target(s, fd);
    io_uring_sqe_set_data64(s, data(kSend, owner));
  }

  // Forwarder: the next queued buffer of `from` goes out on its peer's socket.
  void send_next(Side* from) {
    if (from->sending || from->count == 0) {
      return;
    }
    const Side::Pending& p = from->queue[from->head];
    send_bytes(from, from->peer->fd, memory + size_t{p.bid} * kBufferSize + p.offset, p.length);
    from->sending = true;
  }

  // Responder: every answer owed, in one send.
  void answer(Side* side) {
    if (side->sending || side->owed == 0) {
      return;
    }
    side->in_flight = side->owed;
    side->owed = 0;
    const size_t bytes = size_t{side->in_flight} * kResponse.size();
    while (answers.size() < bytes) {
      answers += kResponse;
    }
    send_bytes(side, side->fd, answers.data(), bytes);
    side->sending = true;
  }

  void close_side(Side* side) {
    // Enough for a floor: the kernel cancels what is armed on a closed socket; the pair's memory
    // is kept (wrk's connections live as long as the run).
    if (side->fd >= 0) {
      unregister_fd(side->fd);
      close(side->fd);
      side->fd = -1;
    }
    if (side->peer && side->peer != side && side->peer->fd >= 0) {
      unregister_fd(side->peer->fd);
      close(side->peer->fd);
      side->peer->fd = -1;
    }
  }

  // A blocking connect to 127.0.0.1:port (at accept, outside the measured steady state).
  int connect_upstream(uint16_t port) {
    const int up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (up < 0 || connect(up, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      perror("io_uring_floor: connect upstream");
      if (up >= 0) {
        close(up);
      }
      return -1;
    }
    int one = 1;
    setsockopt(up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    register_fd(up);
    return up;
  }

  void on_accept(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    register_fd(fd);
    ++clients;  // never counted down: wrk's connections live as long as the run
    if (fan_ports[0] != 0) {
      auto* fan = new Fan;
      fan->client.fd = fd;
      fan->client.fan = fan;
      for (int i = 0; i < kFanOut; ++i) {
        fan->up[i].fan = fan;
        fan->up[i].slot = i;
        fan->response[i].reserve(kBufferSize);
        if ((fan->up[i].fd = connect_upstream(fan_ports[i])) < 0) {
          close_fan(fan);
          return;
        }
      }
      fan->out.reserve(3 * kBufferSize);
      arm_recv(&fan->client);
      for (Side& up : fan->up) {
        arm_recv(&up);
      }
      return;
    }
    auto* client = new Side;
    client->fd = fd;
    if (upstream == 0) {
      client->peer = client;
      arm_recv(client);
      return;
    }
    const int up = connect_upstream(upstream);
    if (up < 0) {
      unregister_fd(fd);
      close(fd);
      delete client;
      return;
    }
    auto* server = new Side;
    server->fd = up;
    server->peer = client;
    client->peer = server;
    arm_recv(client);
    arm_recv(server);
  }

  // Request heads ("\r\n\r\n") among `res` received bytes: each one is owed an answer.
  static void count_heads(Side* side, const char* p, int res) {
    for (int i = 0; i < res; ++i) {
      const char want = (side->matched % 2 == 0) ? '\r' : '\n';
      side->matched = p[i] == want ? side->matched + 1 : (p[i] == '\r' ? 1 : 0);
      if (side->matched == 4) {
        ++side->owed;
        side->matched = 0;
      }
    }
  }

  // Fan-out: every socket of the page closed (the memory is kept, as a pair's is).
  void close_fan(Fan* fan) {
    for (Side* side : {&fan->client, &fan->up[0], &fan->up[1], &fan->up[2]}) {
      if (side->fd >= 0) {
        unregister_fd(side->fd);
        close(side->fd);
        side->fd = -1;
      }
    }
  }

  // The next page owed, when none is under way: the three calls go out together.
  void fan_start(Fan* fan) {
    if (fan->waiting != 0 || fan->answering || fan->client.owed == 0) {
      return;
    }
    --fan->client.owed;
    fan->waiting = kFanOut;
    for (int i = 0; i < kFanOut; ++i) {
      fan->response[i].clear();
      fan->expect[i] = 0;
      send_bytes(&fan->up[i], fan->up[i].fd, fan_requests[i].data(), fan_requests[i].size());
    }
  }

  // The body of upstream response `i`, without the newline NGINX's `return` ends it with.
  static std::string_view fan_body(const Fan* fan, int i) {
    std::string_view r = fan->response[i];
    r.remove_prefix(fan->body_at[i]);
    while (!r.empty() && (r.back() == '\n' || r.back() == '\r')) {
      r.remove_suffix(1);
    }
    return r;
  }

  void fan_answer(Fan* fan) {
    constexpr std::string_view kOpen = "{\"product\":", kStock = ",\"stock\":",
                               kReviews = ",\"reviews\":", kClose = "}";
    const std::string_view product = fan_body(fan, 0);
    const std::string_view reviews = fan_body(fan, 2);
    std::string_view stock = fan_body(fan, 1);
    const size_t count = stock.find("\"count\":");
    stock = count == std::string_view::npos ? "null" : stock.substr(count + 8);
    stock = stock.substr(0, stock.find_first_of(",}"));
    const size_t length = kOpen.size() + product.size() + kStock.size() + stock.size() +
                          kReviews.size() + reviews.size() + kClose.size();
    char head[128];
    const int n = snprintf(head, sizeof head,
                           "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                           "Content-Length: %zu\r\n\r\n",
                           length);
    std::string& out = fan->out;
    out.assign(head, static_cast<size_t>(n));
    out.append(kOpen).append(product).append(kStock).append(stock);
    out.append(kReviews).append(reviews).append(kClose);
    fan->answering = true;
    send_bytes(&fan->client, fan->client.fd, out.data(), out.size());
  }

  void fan_recv(Side* side, const char* p, int res) {
    Fan* fan = side->fan;
    if (side->slot < 0) {
      count_heads(side, p, res);
      fan_start(fan);
      return;
    }
    const int i = side->slot;
    std::string& r = fan->response[i];
    r.append(p, static_cast<size_t>(res));
    if (fan->expect[i] == 0) {
      const size_t head = r.find("\r\n\r\n");
      if (head == std::string::npos) {
        return;
      }
      const size_t at = r.find("Content-Length: ");
      if (at == std::string::npos || at > head) {
        fprintf(stderr, "io_uring_floor: an upstream response without Content-Length\n");
        close_fan(fan);
        return;
      }
      fan->body_at[i] = head + 4;
      fan->expect[i] = head + 4 + strtoul(r.c_str() + at + 16, nullptr, 10);
    }
    if (r.size() >= fan->expect[i] && --fan->waiting == 0) {
      fan_answer(fan);
    }
  }

  void fan_sent(Side* side, int res) {
    Fan* fan = side->fan;
    const size_t want = side->slot < 0 ? fan->out.size() : fan_requests[side->slot].size();
    if (res < 0 || static_cast<size_t>(res) != want) {
      close_fan(fan);  // loopback sends of a few KB go out whole
      return;
    }
    if (side->slot < 0) {
      fan->answering = false;
      fan_start(fan);
    }
  }

  void on_recv(Side* side, int res, unsigned flags) {
    if (res == -ENOBUFS) {
      arm_recv(side);  // the ring ran dry: the multishot receive ended
      return;
    }
    if (res <= 0 || side->fd < 0) {
      if (flags & IORING_CQE_F_BUFFER) {
        const auto bid = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
        take(bid, res, flags);
        release(bid);
      }
      side->fan ? close_fan(side->fan) : close_side(side);
      return;
    }
    const auto bid = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
    const uint32_t offset = take(bid, res, flags);
    if (side->fan) {
      fan_recv(side, memory + size_t{bid} * kBufferSize + offset, res);
      release(bid);
    } else if (side->peer == side) {
      count_heads(side, memory + size_t{bid} * kBufferSize + offset, res);
      release(bid);
      answer(side);
    } else if (side->count == kQueue) {
      fprintf(stderr, "io_uring_floor: send queue full\n");
      release(bid);
      close_side(side);
      return;
    } else {
      side->queue[(side->head + side->count) % kQueue] =
          Side::Pending{bid, offset, static_cast<uint32_t>(res)};
      ++side->count;
      send_next(side);
    }
    if (!(flags & IORING_CQE_F_MORE)) {
      arm_recv(side);
    }
  }

  void on_send(Side* side, int res) {
    if (side->fan) {
      fan_sent(side, res);
      return;
    }
    side->sending = false;
    if (side->peer == side) {
      const size_t bytes = size_t{side->in_flight} * kResponse.size();
      if (res < 0 || static_cast<size_t>(res) != bytes) {
        close_side(side);  // loopback sends of a few hundred bytes go out whole
        return;
      }
      side->in_flight = 0;
      answer(side);
      return;
    }
    Side::Pending& p = side->queue[side->head];
    if (res < 0) {
      close_side(side);
      return;
    }
    if (static_cast<uint32_t>(res) < p.length) {
      p.offset += static_cast<uint32_t>(res);
      p.length -= static_cast<uint32_t>(res);
    } else {
      release(p.bid);
      side->head = (side->head + 1) % kQueue;
      --side->count;
    }
    send_next(side);
  }

  void dispatch(io_uring_cqe* cqe) {
    const uint64_t d = io_uring_cqe_get_data64(cqe);
    const auto op = static_cast<Op>(d & 7);
    auto* side = reinterpret_cast<Side*>(d & ~uint64_t{7});
    switch (op) {
      case kAccept:
        if (cqe->res >= 0) {
          on_accept(cqe->res);
        }
        if (!(cqe->flags & IORING_CQE_F_MORE)) {
          arm_accept();
        }
        break;
      case kRecv:
        on_recv(side, cqe->res, cqe->flags);
        break;
      case kSend:
        on_send(side, cqe->res);
        break;
    }
  }

  bool setup(uint16_t port) {
    io_uring_params p{};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN |
              IORING_SETUP_CQSIZE;
    p.cq_entries = 16384;
    if (io_uring_queue_init_params(4096, &ring, &p) != 0) {
      p = io_uring_params{};
      if (io_uring_queue_init_params(4096, &ring, &p) != 0) {
        perror("io_uring_floor: io_uring_queue_init");
        return false;
      }
    }
    if (const char* v = getenv("IO_URING_FLOOR_FIXED"); v && strcmp(v, "1") == 0) {
      // One slot per possible descriptor number, so that the slot is the descriptor.
      rlimit files{};
      getrlimit(RLIMIT_NOFILE, &files);
      files.rlim_cur = files.rlim_max;
      setrlimit(RLIMIT_NOFILE, &files);
      if (io_uring_register_files_sparse(&ring, static_cast<unsigned>(files.rlim_cur)) != 0) {
        fprintf(stderr, "io_uring_floor: io_uring_register_files_sparse failed\n");
        return false;
      }
      fixed = true;
    }
    if (const char* v = getenv("IO_URING_FLOOR_BATCH_US"); v) {
      batch_us = static_cast<uint32_t>(atoi(v));
      if (batch_us > 0 && !(p.features & (1u << 15))) {  // IORING_FEAT_MIN_TIMEOUT
        fprintf(stderr, "io_uring_floor: IO_URING_FLOOR_BATCH_US needs Linux 6.12\n");
        return false;
      }
    }
    if (const char* v = getenv("IO_URING_FLOOR_RING_FD"); v && strcmp(v, "1") == 0) {
      if (io_uring_register_ring_fd(&ring) != 1) {
        fprintf(stderr, "io_uring_floor: io_uring_register_ring_fd failed\n");
        return false;
      }
    }
    memory = static_cast<char*>(mmap(nullptr, size_t{kBufferSize} * kBufferCount,
                                     PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    void* ring_memory = mmap(nullptr, sizeof(io_uring_buf) * kBufferCount, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED || ring_memory == MAP_FAILED) {
      perror("io_uring_floor: mmap");
      return false;
    }
    buffers = static_cast<io_uring_buf_ring*>(ring_memory);
    io_uring_buf_ring_init(buffers);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uintptr_t>(buffers);
    reg.ring_entries = kBufferCount;
    reg.bgid = kBufferGroup;
    if (const char* v = getenv("IO_URING_FLOOR_INC"); v && strcmp(v, "1") == 0) {
      reg.pad = 2;  // IOU_PBUF_RING_INC; the field is `flags` in Linux 6.12's header
    }
    if (io_uring_register_buf_ring(&ring, &reg, 0) != 0) {
      fprintf(stderr, "io_uring_floor: io_uring_register_buf_ring failed\n");
      return false;
    }
    for (unsigned i = 0; i < kBufferCount; ++i) {
      io_uring_buf_ring_add(buffers, memory + size_t{i} * kBufferSize, kBufferSize,
                            static_cast<uint16_t>(i), io_uring_buf_ring_mask(kBufferCount),
                            static_cast<int>(i));
    }
    io_uring_buf_ring_advance(buffers, static_cast<int>(kBufferCount));

    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(listener, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listener, 4096) != 0) {
      perror("io_uring_floor: listen");
      return false;
    }
    arm_accept();
    return true;
  }

  // Submits what is queued and waits for `wait_nr` completions, returning `min_wait_us` after
  // the first with what is there.
  void enter(unsigned wait_nr, uint32_t min_wait_us) {
    io_uring_sq* sq = &ring.sq;
    if (sq->sqe_head != sq->sqe_tail) {
      sq->sqe_head = sq->sqe_tail;
      io_uring_smp_store_release(sq->ktail, sq->sqe_tail);
    }
    const unsigned to_submit = sq->sqe_tail - io_uring_smp_load_acquire(sq->khead);
    io_uring_getevents_arg arg{};
    arg.pad = min_wait_us;  // min_wait_usec since Linux 6.12
    syscall(__NR_io_uring_enter, ring.ring_fd, to_submit, wait_nr,
            IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof arg);
  }

  void run() {
    while (true) {
      const unsigned target = std::min(clients / 2, 64u);
      if (batch_us > 0 && target > 1) {
        enter(target, batch_us);
      } else {
        io_uring_submit_and_wait(&ring, 1);
      }
      io_uring_cqe* cqe;
      unsigned head;
      unsigned seen = 0;
      io_uring_for_each_cqe(&ring, head, cqe) {
        dispatch(cqe);
        ++seen;
      }
      io_uring_cq_advance(&ring, seen);
    }
  }
};

int usage() {
  fprintf(stderr,
          "usage: io_uring_floor respond PORT\n"
          "       io_uring_floor forward PORT UPSTREAM_PORT\n"
          "       io_uring_floor fanout PORT CATALOG_PORT INVENTORY_PORT REVIEWS_PORT ID\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    return usage();
  }
  const std::string mode = argv[1];
  Floor floor;
  if (mode == "forward" && argc == 4) {
    floor.upstream = static_cast<uint16_t>(atoi(argv[3]));
  } else if (mode == "fanout" && argc == 7) {
    const char* paths[kFanOut] = {"/products/", "/inventory/", "/reviews/"};
    for (int i = 0; i < kFanOut; ++i) {
      floor.fan_ports[i] = static_cast<uint16_t>(atoi(argv[3 + i]));
      floor.fan_requests[i] =
          std::string("GET ") + paths[i] + argv[6] + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    }
  } else if (mode != "respond" || argc != 3) {
    return usage();
  }
  if (!floor.setup(static_cast<uint16_t>(atoi(argv[2])))) {
    return 1;
  }
  floor.run();
}
