#include "ringgate/core/reactor.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ringgate {

namespace {

struct NeededOp {
  int op;
  const char* name;
};

// Every opcode the gateway submits; a kernel missing one is refused at start-up, not mid-request.
constexpr NeededOp kNeededOps[] = {
    {IORING_OP_ACCEPT, "ACCEPT"},     {IORING_OP_RECV, "RECV"},
    {IORING_OP_SEND, "SEND"},         {IORING_OP_SENDMSG, "SENDMSG"},
    {IORING_OP_READ, "READ"},         {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
    {IORING_OP_SHUTDOWN, "SHUTDOWN"}, {IORING_OP_CLOSE, "CLOSE"},
    {IORING_OP_CONNECT, "CONNECT"},   {IORING_OP_TIMEOUT, "TIMEOUT"},
};

inline uint64_t tag(Completion* c, unsigned op) {
  return reinterpret_cast<uintptr_t>(c) | static_cast<uint64_t>(op);
}

}  // namespace

Reactor::~Reactor() {
  if (ring_ready_) {
    if (buf_ring_) {
      io_uring_unregister_buf_ring(&ring_, kBufferGroup);
    }
    io_uring_queue_exit(&ring_);
  }
  if (buf_ring_) {
    munmap(buf_ring_, buf_ring_bytes_);
  }
  if (buffers_) {
    munmap(buffers_, buffers_bytes_);
  }
}

bool Reactor::init(const ReactorOptions& options, std::string& error) {
  // SINGLE_ISSUER: only this shard's thread submits, so the kernel skips submission locking.
  // DEFER_TASKRUN: completion work runs when we ask for events, in our batch, instead of
  // interrupting the thread (needs SINGLE_ISSUER). COOP_TASKRUN: no IPI to signal task work.
  // SUBMIT_ALL: one bad SQE does not abort the rest of the batch.
  const unsigned attempts[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN |
          IORING_SETUP_SUBMIT_ALL,
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
      0,
  };
  int rc = -EINVAL;
  unsigned used = 0;
  for (unsigned flags : attempts) {
    io_uring_params p{};
    p.flags = flags;
    // A CQ four times the SQ (multishot ops post many CQEs per SQE), within the kernel's 65536.
    p.flags |= IORING_SETUP_CQSIZE;
    p.cq_entries = std::min<uint32_t>(options.entries * 4, 65536);
    rc = io_uring_queue_init_params(options.entries, &ring_, &p);
    if (rc == 0) {
      used = flags;
      used_features_ = p.features;
      break;
    }
    if (rc != -EINVAL) {
      break;
    }
  }
  if (rc != 0) {
    error = std::string("io_uring_setup failed: ") + strerror(-rc) +
            (rc == -EPERM || rc == -ENOSYS
                 ? " (io_uring is disabled on this host: kernel.io_uring_disabled or seccomp)"
                 : "");
    return false;
  }
  ring_ready_ = true;
  if (used & IORING_SETUP_DEFER_TASKRUN) {
    setup_note_ = "io_uring: SINGLE_ISSUER|DEFER_TASKRUN|COOP_TASKRUN";
  } else if (used != 0) {
    setup_note_ =
        "io_uring: kernel refused SINGLE_ISSUER|DEFER_TASKRUN (needs Linux 6.1); using "
        "COOP_TASKRUN";
  } else {
    setup_note_ = "io_uring: kernel refused COOP_TASKRUN (needs Linux 5.19); using default set-up";
  }

  io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
  if (!probe) {
    error = "io_uring: cannot probe supported operations";
    return false;
  }
  std::string missing;
  for (const NeededOp& op : kNeededOps) {
    if (!io_uring_opcode_supported(probe, op.op)) {
      missing += missing.empty() ? "" : ", ";
      missing += op.name;
    }
  }
  io_uring_free_probe(probe);
  if (!missing.empty()) {
    error = "io_uring: the kernel lacks required operations: " + missing;
    return false;
  }
  // Saves an fget/fput per io_uring_enter; harmless if refused. (Not with our own enter call,
  // which passes the real fd.)
  min_timeout_supported_ = (used_features_ & (1u << 15)) != 0;
  batch_wait_us_ = min_timeout_supported_ ? options.batch_wait_us : 0;
  if (options.batch_wait_us > 0 && !min_timeout_supported_) {
    setup_note_ += "; batch_wait ignored (kernel lacks IORING_FEAT_MIN_TIMEOUT, Linux 6.12)";
  } else if (batch_wait_us_ > 0) {
    setup_note_ += "; batch_wait " + std::to_string(batch_wait_us_) + "us";
  }
  if (batch_wait_us_ == 0) {
    io_uring_register_ring_fd(&ring_);
  }

  // Provided-buffer ring. liburing 2.3 has no io_uring_setup_buf_ring: map, init and register
  // by hand.
  buffer_size_ = options.buffer_size;
  buffer_count_ = options.buffer_count;
  buf_ring_bytes_ = sizeof(io_uring_buf) * buffer_count_;
  void* ring_mem =
      mmap(nullptr, buf_ring_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (ring_mem == MAP_FAILED) {
    error = std::string("buffer ring: mmap failed: ") + strerror(errno);
    return false;
  }
  buf_ring_ = static_cast<io_uring_buf_ring*>(ring_mem);
  io_uring_buf_ring_init(buf_ring_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uintptr_t>(buf_ring_);
  reg.ring_entries = buffer_count_;
  reg.bgid = kBufferGroup;
  rc = io_uring_register_buf_ring(&ring_, &reg, 0);
  if (rc != 0) {
    error = std::string("buffer ring: register failed: ") + strerror(-rc) +
            " (provided-buffer rings need Linux 5.19)";
    return false;
  }
  // Buffer memory is touched on first use only, so an idle shard's RSS stays small.
  buffers_bytes_ = size_t{buffer_size_} * buffer_count_;
  void* mem =
      mmap(nullptr, buffers_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    error = std::string("buffers: mmap failed: ") + strerror(errno);
    return false;
  }
  buffers_ = static_cast<char*>(mem);
  const int mask = io_uring_buf_ring_mask(buffer_count_);
  for (uint32_t i = 0; i < buffer_count_; ++i) {
    io_uring_buf_ring_add(buf_ring_, buffer(static_cast<uint16_t>(i)), buffer_size_,
                          static_cast<uint16_t>(i), mask, static_cast<int>(i));
  }
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(buffer_count_));
  return true;
}

io_uring_sqe* Reactor::get_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (!sqe) {
    // SQ full: flush what we have and retry (as Seastar's reactor does).
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

void Reactor::submit_accept_multishot(int fd, Completion* c, unsigned op) {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_multishot_accept(sqe, fd, nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(sqe, tag(c, op));
}

void Reactor::submit_recv_multishot(int fd, Completion* c, unsigned op) {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufferGroup;
  io_uring_sqe_set_data64(sqe, tag(c, op));
}

void Reactor::submit_recv(int fd, void* buf, size_t len, Completion* c, unsigned op) {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_recv(sqe, fd, buf, len, 0);
  io_uring_sqe_set_data64(sqe, tag(c, op));
}

void Reactor::submit_send(int fd, const void* buf, size_t len, Completion* c, unsigned op) {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, tag(c, op));
}

void Reactor::submit_connect(int fd, const sockaddr* addr, socklen_t len, Completion* c,
                             unsigned op) {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_connect(sqe, fd, addr, len);
  io_uring_sqe_set_data64(sqe, tag(c, op));
}

void Reactor::submit_sendmsg(int fd, const msghdr* msg, Completion* c, unsigned op) {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_sendmsg(sqe, fd, msg, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(sqe, tag(c, op));
}

void Reactor::submit_read(int fd, void* buf, size_t len, Completion* c, unsigned op) {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_read(sqe, fd, buf, static_cast<unsigned>(len), 0);
  io_uring_sqe_set_data64(sqe, tag(c, op));
}

void Reactor::submit_cancel(Completion* c, unsigned op) {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_cancel64(sqe, tag(c, op), IORING_ASYNC_CANCEL_ALL);
  io_uring_sqe_set_data64(sqe, 0);
}

void Reactor::submit_shutdown(int fd, int how, Completion* c, unsigned op) {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_shutdown(sqe, fd, how);
  io_uring_sqe_set_data64(sqe, tag(c, op));
}

void Reactor::submit_close(int fd) {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_close(sqe, fd);
  io_uring_sqe_set_data64(sqe, 0);
}

void Reactor::flush() {
  publish_buffers();
  io_uring_submit(&ring_);
}

void Reactor::recycle(uint16_t bid) {
  io_uring_buf_ring_add(buf_ring_, buffer(bid), buffer_size_, bid,
                        io_uring_buf_ring_mask(buffer_count_), pending_recycled_);
  ++pending_recycled_;
  --buffers_out_;
}

void Reactor::publish_buffers() {
  if (pending_recycled_ > 0) {
    io_uring_buf_ring_advance(buf_ring_, pending_recycled_);
    pending_recycled_ = 0;
  }
}

unsigned Reactor::flush_sq() {
  // What liburing's submit does before entering the kernel: publish the SQ tail.
  io_uring_sq* sq = &ring_.sq;
  if (sq->sqe_head != sq->sqe_tail) {
    sq->sqe_head = sq->sqe_tail;
    io_uring_smp_store_release(sq->ktail, sq->sqe_tail);
  }
  return sq->sqe_tail - io_uring_smp_load_acquire(sq->khead);
}

void Reactor::enter_min_wait(unsigned wait_nr, int timeout_ms) {
  // IORING_FEAT_MIN_TIMEOUT (Linux 6.12): wait for wait_nr completions, but once min_wait has
  // passed return with whatever is there. liburing 2.3 predates it; the field is the old `pad`.
  io_uring_getevents_arg arg{};
  __kernel_timespec ts{};
  arg.pad = batch_wait_us_;
  if (timeout_ms >= 0) {
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1000000;
    arg.ts = reinterpret_cast<uintptr_t>(&ts);
  }
  unsigned to_submit = flush_sq();
  syscall(__NR_io_uring_enter, ring_.ring_fd, to_submit, wait_nr,
          IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof arg);
}

void Reactor::wait(int timeout_ms) {
  publish_buffers();
  io_uring_cqe* cqe = nullptr;
  if (batch_wait_us_ > 0 && batch_target_ > 1) {
    enter_min_wait(batch_target_, timeout_ms);
  } else if (timeout_ms < 0) {
    io_uring_submit_and_wait(&ring_, 1);
  } else {
    __kernel_timespec ts{};
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1000000;
    io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  }
}

unsigned Reactor::dispatch() {
  io_uring_cqe* cqe = nullptr;
  unsigned total = 0;
  // Reap in batches; the CQ head is advanced once per batch. Handlers may submit more work and
  // recycle buffers while we iterate (that only touches the SQ and the buffer ring).
  for (;;) {
    unsigned head;
    unsigned n = 0;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++n;
      uint64_t data = cqe->user_data;
      if (data == 0) {
        continue;
      }
      auto* c = reinterpret_cast<Completion*>(data & ~kOpMask);
      c->complete(static_cast<unsigned>(data & kOpMask), cqe->res, cqe->flags);
    }
    if (n == 0) {
      break;
    }
    io_uring_cq_advance(&ring_, n);
    total += n;
    publish_buffers();
  }
  return total;
}

}  // namespace ringgate
