#include "epoll_backend.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ringgate {

namespace {
// Per readiness event: at most this many accepts, and receives into this many buffers, before
// the next socket gets its turn (level-triggered: what is left is reported again).
constexpr int kAcceptsPerEvent = 64;
constexpr int kReceivesPerEvent = 4;
constexpr int kMaxEvents = 256;
constexpr size_t kOpsPerChunk = 256;
// The least the free buffers' warm part shrinks to (as the io_uring ring's working set).
constexpr uint32_t kMinWarmBuffers = 64;
}  // namespace

EpollBackend::~EpollBackend() {
  if (epoll_fd_ >= 0) {
    close(epoll_fd_);
  }
}

bool EpollBackend::init(const ReactorOptions& options, std::string& error) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    error = std::string("epoll_create1 failed: ") + strerror(errno);
    return false;
  }
  buffer_size_ = options.buffer_size;
  buffer_count_ = options.buffer_count;
  reserve_ = buffer_count_ >= 8 ? buffer_count_ / 8 : buffer_count_ >= 2 ? 1 : 0;
  index_.assign(1024, nullptr);
  events_.resize(kMaxEvents);
  ready_.reserve(1024);
  dispatching_.reserve(1024);
  return true;
}

void EpollBackend::provide_buffers(char* base) {
  buffer_base_ = base;
  free_.init(base, buffer_size_, buffer_count_);
}

EpollBackend::FdState& EpollBackend::state(int fd) {
  const auto i = static_cast<size_t>(fd);
  if (i >= fds_.size()) {
    fds_.resize(std::max<size_t>(i + 1, fds_.size() * 2));
  }
  return fds_[i];
}

EpollBackend::FdState& EpollBackend::fresh(int fd) {
  // A new socket may have the number of one closed without submit_close (a listener): nothing
  // of that one applies to it. If the old one is still listed dirty, that entry finds this state
  // clean and is skipped.
  FdState& s = state(fd);
  s = FdState{};
  return s;
}

EpollBackend::Op* EpollBackend::new_op(int fd, Completion* c, unsigned op, Kind kind) {
  if (!free_ops_) {
    op_chunks_.push_back(std::make_unique<Op[]>(kOpsPerChunk));
    Op* chunk = op_chunks_.back().get();
    for (size_t i = 0; i < kOpsPerChunk; ++i) {
      chunk[i].next = free_ops_;
      free_ops_ = &chunk[i];
    }
  }
  Op* o = free_ops_;
  free_ops_ = o->next;
  *o = Op{};
  o->fd = fd;
  o->c = c;
  o->op = op;
  o->kind = kind;
  return o;
}

void EpollBackend::free_op(Op* o) {
  o->next = free_ops_;
  free_ops_ = o;
}

void EpollBackend::grow_index() {
  std::vector<Op*> old(index_.size() * 2, nullptr);
  old.swap(index_);
  for (Op* head : old) {
    while (head) {
      Op* next = head->tag_next;
      Op*& slot = index_[bucket(tag(head->c, head->op))];
      head->tag_next = slot;
      slot = head;
      head = next;
    }
  }
}

void EpollBackend::park(Op* o) {
  FdState& s = state(o->fd);
  Op** link = &s.head;
  while (*link) {
    link = &(*link)->next;
  }
  *link = o;
  if (++pending_ > index_.size()) {
    grow_index();
  }
  Op*& slot = index_[bucket(tag(o->c, o->op))];
  o->tag_next = slot;
  slot = o;
  mark_dirty(o->fd);
}

void EpollBackend::unlink(Op* o, Op* prev) {
  FdState& s = fds_[static_cast<size_t>(o->fd)];
  (prev ? prev->next : s.head) = o->next;
  Op** link = &index_[bucket(tag(o->c, o->op))];
  while (*link != o) {
    link = &(*link)->tag_next;
  }
  *link = o->tag_next;
  --pending_;
  mark_dirty(o->fd);
}

void EpollBackend::mark_dirty(int fd) {
  FdState& s = fds_[static_cast<size_t>(fd)];
  if (!s.dirty) {
    s.dirty = true;
    dirty_.push_back(fd);
  }
}

void EpollBackend::sync_interest() {
  // By index: an fd whose registration fails is marked again while the list is walked.
  for (size_t i = 0; i < dirty_.size(); ++i) {
    const int fd = dirty_[i];
    FdState& s = fds_[static_cast<size_t>(fd)];
    if (!s.dirty) {
      continue;  // closed since
    }
    s.dirty = false;
    uint32_t want = 0;
    for (Op* o = s.head; o; o = o->next) {
      want |= reads(o->kind) ? EPOLLIN : EPOLLOUT;
    }
    if (want == s.registered) {
      continue;
    }
    // An fd with nothing waiting leaves the set: level-triggered EPOLLHUP/EPOLLERR are reported
    // whatever the mask, and would wake the loop for a socket nobody reads.
    epoll_event ev{};
    ev.events = want;
    ev.data.fd = fd;
    const int how = want == 0 ? EPOLL_CTL_DEL : s.registered == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    int rc = epoll_ctl(epoll_fd_, how, fd, &ev);
    // A socket closed outside submit_close left the set by itself (ENOENT); one whose number
    // came back before the set was told is still in it (EEXIST).
    if (rc != 0 && how == EPOLL_CTL_MOD && errno == ENOENT) {
      rc = epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    } else if (rc != 0 && how == EPOLL_CTL_ADD && errno == EEXIST) {
      rc = epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
    }
    if (rc == 0 || how == EPOLL_CTL_DEL) {
      s.registered = want;
      continue;
    }
    // Not pollable (EPERM: a regular file) or gone: what waits on it fails now.
    const int err = errno;
    s.registered = 0;
    while (Op* o = fds_[static_cast<size_t>(fd)].head) {
      finish(o, nullptr, -err);
    }
  }
  dirty_.clear();
}

void EpollBackend::set_nonblocking(int fd) {
  FdState& s = state(fd);
  if (!s.nonblocking) {
    const int flags = fcntl(fd, F_GETFL);
    if (flags >= 0 && !(flags & O_NONBLOCK)) {
      fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    }
    s.nonblocking = true;
  }
}

bool EpollBackend::has_write_waiting(int fd) {
  for (Op* o = state(fd).head; o; o = o->next) {
    if (!reads(o->kind)) {
      return true;
    }
  }
  return false;
}

// --- submissions ---

void EpollBackend::submit_accept_multishot(int fd, Completion* c, unsigned op) {
  set_nonblocking(fd);  // a listener's queue may be emptied by a connection's reset
  park(new_op(fd, c, op, Kind::kAccept));
}

void EpollBackend::submit_recv_multishot(int fd, Completion* c, unsigned op) {
  park(new_op(fd, c, op, Kind::kRecvMultishot));
}

void EpollBackend::submit_recv(int fd, void* buf, size_t len, Completion* c, unsigned op) {
  Op* o = new_op(fd, c, op, Kind::kRecv);
  o->buf = buf;
  o->len = len;
  park(o);
}

void EpollBackend::submit_read(int fd, void* buf, size_t len, Completion* c, unsigned op) {
  set_nonblocking(fd);  // read() has no MSG_DONTWAIT
  Op* o = new_op(fd, c, op, Kind::kRead);
  o->buf = buf;
  o->len = len;
  park(o);
}

void EpollBackend::submit_send(int fd, const void* buf, size_t len, Completion* c, unsigned op) {
  Op* o = new_op(fd, c, op, Kind::kSend);
  o->buf = const_cast<void*>(buf);
  o->len = len;
  submit_write(o);
}

void EpollBackend::submit_sendmsg(int fd, const msghdr* msg, Completion* c, unsigned op) {
  Op* o = new_op(fd, c, op, Kind::kSendmsg);
  o->msg = msg;
  submit_write(o);
}

void EpollBackend::submit_write(Op* o) {
  int res = 0;
  // Behind a send that waits, bytes must not overtake it.
  if (!has_write_waiting(o->fd) && try_write(o, res)) {
    post(o->c, o->op, res, 0);
    free_op(o);
    return;
  }
  park(o);
}

void EpollBackend::submit_connect(int fd, const sockaddr* addr, socklen_t len, Completion* c,
                                  unsigned op) {
  fresh(fd);
  set_nonblocking(fd);
  if (connect(fd, addr, len) == 0) {
    post(c, op, 0, 0);
    return;
  }
  if (errno != EINPROGRESS) {
    post(c, op, -errno, 0);
    return;
  }
  park(new_op(fd, c, op, Kind::kConnect));  // EPOLLOUT says it ended; SO_ERROR says how
}

void EpollBackend::submit_shutdown(int fd, int how, Completion* c, unsigned op) {
  post(c, op, shutdown(fd, how) == 0 ? 0 : -errno, 0);
}

void EpollBackend::submit_cancel(Completion* c, unsigned op) {
  const uint64_t t = tag(c, op);
  Op* o = index_[bucket(t)];
  while (o) {
    Op* next = o->tag_next;
    if (o->c == c && o->op == op) {
      Op* prev = nullptr;
      for (Op* p = fds_[static_cast<size_t>(o->fd)].head; p != o; p = p->next) {
        prev = p;
      }
      finish(o, prev, -ECANCELED);
    }
    o = next;
  }
}

void EpollBackend::submit_close(int fd) {
  FdState& s = state(fd);
  // The caller closes a socket whose operations have all completed; anything still here (a
  // multishot whose object is gone) is dropped, not reported.
  while (Op* o = s.head) {
    unlink(o, nullptr);
    free_op(o);
  }
  if (s.registered != 0) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  }
  s = FdState{};  // the number is free for the next socket: nothing of this one is kept
  close(fd);
}

// --- readiness ---

bool EpollBackend::try_write(Op* o, int& res) {
  ssize_t n;
  if (o->kind == Kind::kSend) {
    n = send(o->fd, o->buf, o->len, MSG_DONTWAIT | MSG_NOSIGNAL);
  } else {
    n = sendmsg(o->fd, o->msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  }
  if (n >= 0) {
    res = static_cast<int>(n);
    return true;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK) {
    return false;
  }
  res = -errno;
  return true;
}

void EpollBackend::run_writes(int fd) {
  FdState& s = fds_[static_cast<size_t>(fd)];
  Op* prev = nullptr;
  Op* o = s.head;
  while (o) {
    Op* next = o->next;
    if (reads(o->kind)) {
      prev = o;
    } else if (o->kind == Kind::kConnect) {
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        err = errno;
      }
      finish(o, prev, -err);
    } else {
      int res = 0;
      if (!try_write(o, res)) {
        return;  // still full: later writes wait behind this one
      }
      finish(o, prev, res);
    }
    o = next;
  }
}

bool EpollBackend::accept(Op* o) {
  for (int i = 0; i < kAcceptsPerEvent; ++i) {
    const int fd = accept4(o->fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
      fresh(fd).nonblocking = true;
      post(o->c, o->op, fd, kCompletionMore);
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return true;
    }
    if (errno == ECONNABORTED || errno == EINTR) {
      continue;  // that connection is gone; the next may be there
    }
    // EMFILE, ENFILE, ENOMEM: the multishot accept ends here, as io_uring's does.
    post(o->c, o->op, -errno, 0);
    return false;
  }
  return true;
}

bool EpollBackend::receive(Op* o) {
  for (int i = 0; i < kReceivesPerEvent; ++i) {
    if (free_.size() <= reserve_) {
      post(o->c, o->op, -ENOBUFS, 0);  // the data stays in the socket
      return false;
    }
    const uint16_t bid = free_.top();
    char* buf = buffer_base_ + size_t{bid} * buffer_size_;
    const ssize_t n = recv(o->fd, buf, buffer_size_, MSG_DONTWAIT);
    if (n > 0) {
      free_.pop();
      free_.mark_written(bid);
      ++taken_;
      post(o->c, o->op, static_cast<int>(n),
           kCompletionBuffer | kCompletionMore | (uint32_t{bid} << kCompletionBufferShift));
      if (static_cast<size_t>(n) < buffer_size_) {
        return true;  // the socket is empty
      }
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return true;
    }
    post(o->c, o->op, n == 0 ? 0 : -errno, 0);  // EOF or an error ends it
    return false;
  }
  return true;
}

void EpollBackend::run_reads(int fd) {
  FdState& s = fds_[static_cast<size_t>(fd)];
  Op* prev = nullptr;
  Op* o = s.head;
  while (o) {
    Op* next = o->next;
    bool keep = true;
    if (!reads(o->kind)) {
      // a write: not this direction
    } else if (o->kind == Kind::kAccept) {
      keep = accept(o);
    } else if (o->kind == Kind::kRecvMultishot) {
      keep = receive(o);
    } else {
      const ssize_t n = o->kind == Kind::kRecv ? recv(fd, o->buf, o->len, MSG_DONTWAIT)
                                               : read(fd, o->buf, o->len);
      if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        post(o->c, o->op, n >= 0 ? static_cast<int>(n) : -errno, 0);
        keep = false;
      }
    }
    if (keep) {
      prev = o;
    } else {
      unlink(o, prev);
      free_op(o);
    }
    o = next;
  }
}

void EpollBackend::wait(int timeout_ms) {
  sync_interest();
  if (taken_ > 0) {
    peak_taken_ = std::max(peak_taken_, taken_);
    taken_ = 0;
  }
  // Completions not yet dispatched (a send that completed at submission): do not sleep.
  const int n = epoll_wait(epoll_fd_, events_.data(), kMaxEvents, ready_.empty() ? timeout_ms : 0);
  for (int i = 0; i < n; ++i) {
    const int fd = events_[i].data.fd;
    const uint32_t ev = events_[i].events;
    if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
      run_writes(fd);
    }
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
      run_reads(fd);
    }
  }
}

unsigned EpollBackend::dispatch() {
  // What is ready now; completions posted by these handlers (a send done at once) wait for the
  // next round, as a submission made in io_uring's dispatch waits for the next enter.
  dispatching_.swap(ready_);
  for (const Ready& r : dispatching_) {
    r.c->complete(r.op, r.res, r.flags);
  }
  const auto n = static_cast<unsigned>(dispatching_.size());
  dispatching_.clear();
  return n;
}

// --- buffers ---

void EpollBackend::trim_buffers() {
  peak_taken_ = std::max(peak_taken_, taken_);
  // Free buffers beyond twice the last second's peak give their pages back, oldest first; a few
  // hundred madvise calls at most per trim.
  constexpr size_t kMaxPerTrim = 256;
  free_.give_back_beyond(std::max(kMinWarmBuffers, peak_taken_ * 2), kMaxPerTrim);
  peak_taken_ = 0;
}

}  // namespace ringgate
