#include "uring_backend.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ringgate {

// The public completion flags are io_uring's CQE flags, so dispatch() passes cqe->flags on as
// they are and cqe_more / cqe_has_buffer / cqe_buffer_id stay one AND or shift.
static_assert(kCompletionMore == IORING_CQE_F_MORE);
static_assert(kCompletionBuffer == IORING_CQE_F_BUFFER);
static_assert(kCompletionBufferShift == static_cast<unsigned>(IORING_CQE_BUFFER_SHIFT));

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

}  // namespace

UringBackend::~UringBackend() {
  if (ring_ready_) {
    if (buf_ring_) {
      io_uring_unregister_buf_ring(&ring_, kBufferGroup);
    }
    io_uring_queue_exit(&ring_);
  }
  if (buf_ring_) {
    munmap(buf_ring_, buf_ring_bytes_);
  }
}

bool UringBackend::init(const ReactorOptions& options, std::string& note, std::string& error) {
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
    note = "io_uring: SINGLE_ISSUER|DEFER_TASKRUN|COOP_TASKRUN";
  } else if (used != 0) {
    note =
        "io_uring: kernel refused SINGLE_ISSUER|DEFER_TASKRUN (needs Linux 6.1); using "
        "COOP_TASKRUN";
  } else {
    note = "io_uring: kernel refused COOP_TASKRUN (needs Linux 5.19); using default set-up";
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
  uint32_t want_us = options.batch_wait_us;
  std::string why;
  if (options.batch_wait_auto) {
    // Each shard's BatchTuner decides under load whether to batch; the syscall's cost picks
    // where it starts.
    const uint32_t syscall_ns = syscall_cost_ns();
    want_us = kAutoBatchWaitUs;
    batch_first_ = auto_batch_wait_us(syscall_ns) > 0;
    why = " (auto: " + std::string(batch_first_ ? "on" : "off") + " to start, as a syscall costs " +
          std::to_string(syscall_ns) + " ns here, " + (batch_first_ ? "at least " : "under ") +
          std::to_string(kCostlySyscallNs) + "; each shard measures both under load and keeps " +
          "the cheaper)";
  } else {
    batch_first_ = want_us > 0;
  }
  batch_wait_us_ = min_timeout_supported_ ? want_us : 0;
  if (want_us > 0 && !min_timeout_supported_) {
    note += "; batch_wait ignored (kernel lacks IORING_FEAT_MIN_TIMEOUT, Linux 6.12)" + why;
  } else if (options.batch_wait_auto) {
    note += "; batch_wait " + std::to_string(batch_wait_us_) + "us" + why;
  } else if (batch_wait_us_ > 0) {
    note += "; batch_wait " + std::to_string(batch_wait_us_) + "us";
  }
  // Saves a file lookup per io_uring_enter (liburing's calls use it by themselves; our own
  // enter_and_wait passes IORING_ENTER_REGISTERED_RING). Harmless if refused.
  ring_fd_registered_ = io_uring_register_ring_fd(&ring_) == 1;

  // The file table for client and upstream sockets (register_fd). Sized by the caller (about the
  // shard's connections); refused or 0, every socket is used by descriptor as before.
  if (options.file_slots > 0) {
    rc = io_uring_register_files_sparse(&ring_, options.file_slots);
    if (rc == 0) {
      file_slots_ = options.file_slots;
      slot_fd_.assign(file_slots_, -1);
      free_slots_.reserve(file_slots_);
      retired_slots_.reserve(64);
      for (uint32_t slot = file_slots_; slot > 0; --slot) {
        free_slots_.push_back(slot - 1);  // the lowest slots first
      }
      note += "; " + std::to_string(file_slots_) + " registered file slots";
    } else {
      note += std::string("; registered files refused (") + strerror(-rc) + ")";
    }
  }

  // Provided-buffer ring. liburing 2.3 has no io_uring_setup_buf_ring: map, init and register
  // by hand. The buffers themselves are added by provide_buffers() once the Reactor has mapped
  // their memory.
  buffer_size_ = options.buffer_size;
  buffer_count_ = options.buffer_count;
  buffer_mask_ = io_uring_buf_ring_mask(options.buffer_count);
  buf_ring_bytes_ = sizeof(io_uring_buf) * options.buffer_count;
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
  reg.ring_entries = options.buffer_count;
  reg.bgid = kBufferGroup;
  rc = io_uring_register_buf_ring(&ring_, &reg, 0);
  if (rc != 0) {
    error = std::string("buffer ring: register failed: ") + strerror(-rc) +
            " (provided-buffer rings need Linux 5.19)";
    return false;
  }
  return true;
}

void UringBackend::provide_buffers(char* base) {
  buffer_base_ = base;
  free_.init(base, buffer_size_, buffer_count_);
  ring_bids_.assign(buffer_count_, 0);
  ring_target_ = std::min(ring_cap(), kMinRingBuffers);
  publish_buffers();
}

void UringBackend::register_fd(int fd) {
  if (fd < 0 || file_slots_ == 0 || file_updates_failed_) {
    return;  // used by descriptor
  }
  if (free_slots_.empty()) {
    ++unregistered_;
    return;
  }
  const uint32_t slot = free_slots_.back();
  free_slots_.pop_back();
  const auto i = static_cast<size_t>(fd);
  if (i >= slot_of_.size()) {
    slot_of_.resize(std::max(i + 1, slot_of_.size() * 2), -1);
  }
  slot_of_[i] = static_cast<int32_t>(slot);
  slot_fd_[slot] = fd;
  // Queued before any operation naming the slot; the kernel issues a batch's entries in order,
  // and FILES_UPDATE completes inline, so those operations find the socket in its slot.
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_files_update(sqe, &slot_fd_[slot], 1, static_cast<int>(slot));
  io_uring_sqe_set_data64(sqe, kFileUpdateTag);
}

void UringBackend::unregister_slot(int fd) {
  const auto slot = static_cast<uint32_t>(slot_of_[static_cast<size_t>(fd)]);
  slot_of_[static_cast<size_t>(fd)] = -1;
  slot_fd_[slot] = -1;
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_close_direct(sqe, slot);
  io_uring_sqe_set_data64(sqe, 0);
  retired_slots_.push_back(slot);
}

void UringBackend::flush() {
  publish_buffers();
  io_uring_submit(&ring_);
  release_retired_slots();
}

void UringBackend::publish_buffers() {
  while (in_ring_ + static_cast<uint32_t>(pending_) < ring_target_ && !free_.empty()) {
    ring_add(free_.pop());
  }
  if (pending_ > 0) {
    io_uring_buf_ring_advance(buf_ring_, pending_);
    in_ring_ += static_cast<uint32_t>(pending_);
    pending_ = 0;
  }
}

void UringBackend::follow_demand() {
  if (ran_dry_) {
    ring_target_ = std::min(ring_cap(), std::max(ring_target_ * 2, kMinRingBuffers));
    ran_dry_ = false;
  }
  if (taken_ > 0) {
    peak_taken_ = std::max(peak_taken_, taken_);
    ring_target_ = std::min(ring_cap(), std::max(ring_target_, taken_ * 2));
    taken_ = 0;
  }
}

void UringBackend::give_back_idle_ring_entries() {
  // The ring's last in_ring_ entries are the ones the kernel has not written: it takes entries
  // in ring order, and every entry it took has a completion we counted. That holds only while
  // every completion has been seen: the kernel writes buffers (DEFER_TASKRUN) only inside
  // io_uring_enter, whose completions dispatch() reaps before the timers run; a submission made
  // since may have completed inline, and an overflowed CQ hides completions, so both skip.
  if (io_uring_cq_ready(&ring_) != 0 || io_uring_cq_has_overflow(&ring_) || pending_ != 0) {
    return;
  }
  const uint32_t tail = buf_ring_->tail;
  for (uint32_t i = 0; i < in_ring_; ++i) {
    const uint16_t bid = ring_bids_[(tail - 1 - i) & ring_mask()];
    if (free_.resident(bid)) {
      free_.give_back(bid);
    }
  }
}

void UringBackend::trim_buffers() {
  const bool quiet = taken_ == 0 && peak_taken_ == 0;  // no buffer written for a second
  follow_demand();
  // Shrink by half at most: bursts that come back every few seconds (clients that all send at
  // once now and then) find the ring still sized for them instead of running it dry each time.
  ring_target_ =
      std::min(ring_cap(), std::max({kMinRingBuffers, peak_taken_ * 2, ring_target_ / 2}));
  peak_taken_ = 0;
  // Free buffers beyond the next refill's worth go back to the system, oldest first; a few
  // hundred madvise calls at most per trim (the rest next time).
  constexpr size_t kMaxPerTrim = 256;
  free_.give_back_beyond(ring_target_, kMaxPerTrim);
  if (quiet) {
    give_back_idle_ring_entries();
  }
}

unsigned UringBackend::flush_sq() {
  // What liburing's submit does before entering the kernel: publish the SQ tail.
  io_uring_sq* sq = &ring_.sq;
  if (sq->sqe_head != sq->sqe_tail) {
    sq->sqe_head = sq->sqe_tail;
    io_uring_smp_store_release(sq->ktail, sq->sqe_tail);
  }
  return sq->sqe_tail - io_uring_smp_load_acquire(sq->khead);
}

void UringBackend::enter_and_wait(unsigned wait_nr, int timeout_ms, uint32_t min_wait_us) {
  // One io_uring_enter that submits and waits, with the timeout as an extended argument (Linux
  // 5.11): what liburing's submit_and_wait_timeout does, less its own bookkeeping (about 150
  // instructions a call, on every loop of a shard that wakes for a few requests at a time).
  // min_wait_us: IORING_FEAT_MIN_TIMEOUT (Linux 6.12), wait for wait_nr completions, but once
  // min_wait has passed return with whatever is there. liburing 2.3 predates it; the field is
  // the old `pad`, which must be 0 on kernels without it.
  io_uring_getevents_arg arg{};
  __kernel_timespec ts{};
  arg.pad = min_wait_us;
  if (timeout_ms >= 0) {
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1000000;
    arg.ts = reinterpret_cast<uintptr_t>(&ts);
  }
  unsigned to_submit = flush_sq();
  unsigned enter_flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG;
  int ring_fd = ring_.ring_fd;
  if (ring_fd_registered_) {
    enter_flags |= IORING_ENTER_REGISTERED_RING;
    ring_fd = ring_.enter_ring_fd;
  }
  syscall(__NR_io_uring_enter, ring_fd, to_submit, wait_nr, enter_flags, &arg, sizeof arg);
}

bool UringBackend::wait(int timeout_ms, unsigned batch_target) {
  follow_demand();
  publish_buffers();
  const bool batch = batch_wait_us_ > 0 && batch_target > 1;
  enter_and_wait(batch ? batch_target : 1, timeout_ms, batch ? batch_wait_us_ : 0);
  release_retired_slots();
  return batch;
}

unsigned UringBackend::dispatch() {
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
      if (cqe->flags & IORING_CQE_F_BUFFER) {
        free_.mark_written(static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
        --in_ring_;
        ++taken_;
      } else if (cqe->res == -ENOBUFS) {
        ran_dry_ = true;
      }
      if (data <= kOpMask) {
        if (data == kFileUpdateTag && cqe->res < 0) {
          // A kernel that refuses the table's updates: new sockets go by descriptor (the
          // socket whose update failed sees its operations fail and is closed).
          file_updates_failed_ = true;
        }
        continue;
      }
      auto* c = reinterpret_cast<Completion*>(data & ~kOpMask);
      // cqe->flags as they are: the kCompletion* flags have the kernel's values (asserted above).
      c->complete(static_cast<unsigned>(data & kOpMask), cqe->res, cqe->flags);
    }
    if (n == 0) {
      break;
    }
    io_uring_cq_advance(&ring_, n);
    total += n;
    follow_demand();
    publish_buffers();
  }
  return total;
}

}  // namespace ringgate
