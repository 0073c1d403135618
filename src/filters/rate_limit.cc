#include "ringgate/filters/rate_limit.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "ringgate/core/clock.h"
#include "ringgate/core/hash.h"

namespace ringgate {

namespace {

// Slots looked at for a key before it goes to the overflow bucket.
constexpr uint32_t kProbe = 8;
// A key idle this long (and with a full bucket) may lose its slot to another key.
constexpr uint64_t kReclaimUs = 10 * 1000 * 1000;
// Leased tokens of a key that has made no request for this long go back to the shared bucket.
constexpr uint64_t kLeaseIdleUs = 50 * 1000;
// The same for backend: redis, longer: a give-back is a Redis call, and a key of a few requests a
// second should still make one call per batch.
constexpr uint64_t kRemoteLeaseIdleUs = 1000 * 1000;
constexpr uint64_t kSweepMs = 100;
// Entries of a shard's cache per policy (keys it remembers leases for).
constexpr uint32_t kMaxCacheEntries = 4096;

}  // namespace

SharedRateTable::SharedRateTable(const RateLimitPolicy& policy)
    : slots_(new Slot[policy.max_keys]),
      mask_(policy.max_keys - 1),
      interval_(std::max<uint64_t>(1, static_cast<uint64_t>(policy.period.count()) * 1000 *
                                          kRateTicksPerUs / policy.tokens)),
      burst_tokens_(policy.burst),
      burst_ticks_(policy.burst * interval_),
      reclaim_ticks_(kReclaimUs * kRateTicksPerUs) {}

SharedRateTable::Slot& SharedRateTable::slot(uint64_t hash, uint64_t now_ticks, bool* overflow) {
  *overflow = false;
  const uint32_t start = static_cast<uint32_t>(hash) & mask_;
  for (uint32_t i = 0; i < kProbe && i <= mask_; ++i) {
    Slot& s = slots_[(start + i) & mask_];
    uint64_t k = s.key.load(std::memory_order_acquire);
    if (k == hash) {
      return s;
    }
    if (k == 0 && s.key.compare_exchange_strong(k, hash, std::memory_order_acq_rel)) {
      return s;  // a fresh slot: TAT 0 is a full bucket
    }
    if (k == hash) {
      return s;  // another shard claimed it for the same key meanwhile
    }
    // A key whose bucket has been full for kReclaimUs is gone as far as limiting goes.
    const uint64_t tat = s.tat.load(std::memory_order_relaxed);
    if (k != 0 && tat + reclaim_ticks_ < now_ticks &&
        s.key.compare_exchange_strong(k, hash, std::memory_order_acq_rel)) {
      return s;
    }
  }
  *overflow = true;
  return overflow_;
}

uint32_t SharedRateTable::lease(Slot& slot, uint32_t want, uint64_t now_ticks,
                                uint64_t* wait_ticks) {
  uint64_t tat = slot.tat.load(std::memory_order_relaxed);
  for (;;) {
    const uint64_t base = std::max(tat, now_ticks);
    const uint64_t limit = now_ticks + burst_ticks_;
    const uint64_t avail = base < limit ? (limit - base) / interval_ : 0;
    if (avail == 0) {
      *wait_ticks = base + interval_ - limit;
      return 0;
    }
    const uint32_t grant = static_cast<uint32_t>(std::min<uint64_t>(want, avail));
    if (slot.tat.compare_exchange_weak(tat, base + grant * interval_, std::memory_order_relaxed)) {
      return grant;
    }
  }
}

void SharedRateTable::give_back(Slot& slot, uint32_t n, uint64_t now_ticks) {
  uint64_t tat = slot.tat.load(std::memory_order_relaxed);
  for (;;) {
    if (tat <= now_ticks) {
      return;  // the bucket is full already
    }
    const uint64_t back = n * interval_;
    const uint64_t next = tat - now_ticks > back ? tat - back : now_ticks;
    if (slot.tat.compare_exchange_weak(tat, next, std::memory_order_relaxed)) {
      return;
    }
  }
}

uint64_t SharedRateTable::available(const Slot& slot, uint64_t now_ticks) const {
  const uint64_t base = std::max(slot.tat.load(std::memory_order_relaxed), now_ticks);
  const uint64_t limit = now_ticks + burst_ticks_;
  return base < limit ? (limit - base) / interval_ : 0;
}

namespace {
// Read by the shards after they start; written (adopted) by the main thread before.
uint64_t g_rate_limit_seed = 0;
bool g_rate_limit_seed_set = false;

uint64_t name_hash(std::string_view name) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (char c : name) {
    h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  }
  return h;
}

void put_u64(std::string& out, uint64_t v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

uint64_t get_u64(std::string_view in, size_t at) {
  uint64_t v;
  std::memcpy(&v, in.data() + at, sizeof v);
  return v;
}
}  // namespace

uint64_t rate_limit_seed() {
  if (!g_rate_limit_seed_set) {
    g_rate_limit_seed = mix64(process_seed() ^ 0x726174656c696d69ull);
    g_rate_limit_seed_set = true;
  }
  return g_rate_limit_seed;
}

void adopt_rate_limit_seed(uint64_t seed) {
  g_rate_limit_seed = seed;
  g_rate_limit_seed_set = true;
}

std::string SharedRateTable::export_state(uint64_t now_ticks) const {
  // interval, burst, then (key hash, TAT) of every bucket not full now.
  std::string out;
  put_u64(out, interval_);
  put_u64(out, burst_tokens_);
  for (uint32_t i = 0; i <= mask_; ++i) {
    const uint64_t key = slots_[i].key.load(std::memory_order_acquire);
    const uint64_t tat = slots_[i].tat.load(std::memory_order_relaxed);
    if (key != 0 && tat > now_ticks) {
      put_u64(out, key);
      put_u64(out, tat);
    }
  }
  return out;
}

bool SharedRateTable::import_state(std::string_view state, uint64_t now_ticks) {
  if (state.size() < 16 || (state.size() - 16) % 16 != 0 || get_u64(state, 0) != interval_ ||
      get_u64(state, 8) != burst_tokens_) {
    return false;
  }
  for (size_t at = 16; at < state.size(); at += 16) {
    const uint64_t tat = get_u64(state, at + 8);
    bool overflow = false;
    Slot& s = slot(get_u64(state, at), now_ticks, &overflow);
    if (!overflow && tat > s.tat.load(std::memory_order_relaxed)) {
      s.tat.store(tat, std::memory_order_relaxed);
    }
  }
  return true;
}

SharedRateLimits::SharedRateLimits(const Config& config) {
  for (const RateLimitPolicy& p : config.rate_limits) {
    tables.push_back(std::make_unique<SharedRateTable>(p));
  }
}

ShardRateLimiter::ShardRateLimiter(const Config& config, SharedRateLimits& shared, unsigned shards,
                                   TimerWheel& timers, LeaseBackend* backend,
                                   const uint64_t* clock_us)
    : Timer(&ShardRateLimiter::on_sweep),
      backend_(backend),
      clock_us_(clock_us),
      policies_(config.rate_limits.size()),
      timers_(timers) {
  for (size_t i = 0; i < config.rate_limits.size(); ++i) {
    const RateLimitPolicy& rp = config.rate_limits[i];
    Policy& p = policies_[i];
    p.table = shared.tables[i].get();
    // By name, not index: a reload that adds a policy before this one keeps its keys' hashes.
    p.seed = mix64(rate_limit_seed() ^ name_hash(rp.name));
    // Small batches keep the tokens stranded in other shards' caches few: about 1/50 s of the
    // rate split over the shards, at most a quarter of a shard's share of the burst, 1..64.
    const uint64_t per_second =
        rp.tokens * 1000 / static_cast<uint64_t>(std::max<int64_t>(1, rp.period.count()));
    const uint64_t by_rate = per_second / (50 * std::max(1u, shards));
    const uint64_t by_burst = rp.burst / (4 * std::max(1u, shards));
    p.batch = static_cast<uint32_t>(std::clamp<uint64_t>(std::min(by_rate, by_burst), 1, 64));
    if (rp.batch > 0) {
      p.batch = rp.batch;
    }
    if (rp.backend == RateLimitPolicy::Backend::kRedis) {
      p.remote = true;
      p.deny_on_error = rp.deny_on_error;
      p.name = rp.name;
      p.burst = rp.burst;
      p.interval = static_cast<double>(rp.period.count()) * 1000.0 / static_cast<double>(rp.tokens);
      char text[64];
      const int n = snprintf(text, sizeof text, "%.6f", p.interval);
      p.interval_us.assign(text, static_cast<size_t>(std::max(0, n)));
    }
    const uint32_t entries = std::min(rp.max_keys, kMaxCacheEntries);
    p.entries.resize(entries);
    p.mask = entries - 1;
  }
}

ShardRateLimiter::~ShardRateLimiter() {
  timers_.disarm(*this);
  const uint64_t now_ticks = monotonic_ns() / 1000 * kRateTicksPerUs;
  for (Policy& p : policies_) {
    if (p.remote) {
      continue;  // tokens leased from Redis come back by themselves within a burst window
    }
    for (Entry& e : p.entries) {
      release(p, e, now_ticks);
    }
  }
}

uint64_t ShardRateLimiter::hash_of(const Policy& p, std::string_view key) const {
  uint64_t h = p.seed ^ (key.size() * 0x9e3779b97f4a7c15ull);
  size_t i = 0;
  for (; i + 8 <= key.size(); i += 8) {
    uint64_t chunk;
    std::memcpy(&chunk, key.data() + i, 8);
    h = mix64(h ^ chunk);
  }
  uint64_t tail = 0;
  if (i < key.size()) {  // an absent header is an empty view that may have no data pointer
    std::memcpy(&tail, key.data() + i, key.size() - i);
  }
  h = mix64(h ^ tail);
  return h | 1;  // never 0, the free-slot mark
}

void ShardRateLimiter::release(Policy& p, Entry& e, uint64_t now_ticks) {
  if (p.remote) {
    if (e.tokens > 0 && backend_ && backend_->usable()) {
      backend_->lease(p.name, e.key, p.interval_us, p.burst, -static_cast<int64_t>(e.tokens),
                      nullptr, 0);
    }
    e.tokens = 0;
    return;
  }
  if (e.tokens > 0 && e.slot) {
    // The slot may have passed to another key meanwhile (only after kReclaimUs of quiet): then
    // these few tokens are simply dropped.
    if (e.slot->key.load(std::memory_order_acquire) == e.hash) {
      p.table->give_back(*e.slot, e.tokens, now_ticks);
    }
  }
  e.tokens = 0;
}

ShardRateLimiter::Entry& ShardRateLimiter::entry_for(Policy& p, uint64_t hash, std::string_view key,
                                                     uint64_t now_ticks) {
  Entry& e = p.entries[hash & p.mask];
  if (e.hash != hash) {
    release(p, e, now_ticks);  // another key had this cache entry
    if (e.lease) {
      e.lease->entry = nullptr;  // its answer goes to its waiters only
      e.lease = nullptr;
    }
    e.hash = hash;
    e.slot = nullptr;
    e.empty_until_us = 0;
    if (p.remote) {
      e.key.assign(key);
    }
  }
  return e;
}

RateVerdict ShardRateLimiter::admit(uint32_t policy, std::string_view key, uint64_t now_us,
                                    uint32_t* retry_after_s, RateWaiter* waiter) {
  Policy& p = policies_[policy];
  if (!p.remote) {
    return check(policy, key, now_us, retry_after_s) ? RateVerdict::kAllowed
                                                     : RateVerdict::kLimited;
  }
  const uint64_t hash = hash_of(p, key);
  last_now_us_ = now_us;
  Entry& e = entry_for(p, hash, key, now_us * kRateTicksPerUs);
  e.last_us = now_us;
  return admit_remote(policy, p, e, now_us, retry_after_s, waiter);
}

RateVerdict ShardRateLimiter::admit_remote(uint32_t policy, Policy& p, Entry& e, uint64_t now_us,
                                           uint32_t* retry_after_s, RateWaiter* waiter) {
  if (e.tokens > 0) {
    --e.tokens;
    p.counters.allowed.fetch_add(1, std::memory_order_relaxed);
    // Ask for the next batch while half of this one is left, so a steady client never waits.
    if (p.batch >= 2 && e.tokens <= p.batch / 2 && !e.lease && now_us >= e.empty_until_us) {
      start_lease(policy, &e, e.key, e.hash, p.batch);
    }
    return RateVerdict::kAllowed;
  }
  if (e.lease && waiter) {
    wait_on(e.lease, waiter);
    return RateVerdict::kWait;
  }
  if (now_us < e.empty_until_us) {
    *retry_after_s = retry_seconds(p, static_cast<int64_t>(e.empty_until_us - now_us));
    p.counters.limited.fetch_add(1, std::memory_order_relaxed);
    return RateVerdict::kLimited;
  }
  Lease* l = waiter ? start_lease(policy, &e, e.key, e.hash, p.batch) : nullptr;
  if (!l) {
    return on_error(p, retry_after_s);
  }
  wait_on(l, waiter);
  return RateVerdict::kWait;
}

ShardRateLimiter::Lease* ShardRateLimiter::start_lease(uint32_t policy, Entry* e,
                                                       std::string_view key, uint64_t hash,
                                                       int64_t want) {
  Policy& p = policies_[policy];
  if (!backend_ || !backend_->usable()) {
    return nullptr;
  }
  Lease* l = free_leases_;
  if (l) {
    free_leases_ = l->next_free;
  } else {
    leases_.push_back(std::make_unique<Lease>());
    l = leases_.back().get();
  }
  l->policy = policy;
  l->hash = hash;
  l->entry = e;
  l->key.assign(key);
  l->want = want;
  l->head = l->tail = nullptr;
  l->next_free = nullptr;
  if (!backend_->lease(p.name, l->key, p.interval_us, p.burst, want, this,
                       reinterpret_cast<uintptr_t>(l))) {
    l->next_free = free_leases_;
    free_leases_ = l;
    return nullptr;
  }
  p.counters.backend_calls.fetch_add(1, std::memory_order_relaxed);
  if (e) {
    e->lease = l;
  }
  if (!armed()) {
    timers_.arm(*this, last_now_us_ / 1000 + kSweepMs);
  }
  return l;
}

RateVerdict ShardRateLimiter::on_error(Policy& p, uint32_t* retry_after_s) {
  p.counters.backend_errors.fetch_add(1, std::memory_order_relaxed);
  if (p.deny_on_error) {
    *retry_after_s = 1;
    p.counters.limited.fetch_add(1, std::memory_order_relaxed);
    return RateVerdict::kLimited;
  }
  p.counters.allowed.fetch_add(1, std::memory_order_relaxed);
  return RateVerdict::kAllowed;
}

uint32_t ShardRateLimiter::retry_seconds(const Policy& p, int64_t wait_us) const {
  const double us = wait_us > 0 ? static_cast<double>(wait_us) : p.interval;
  return static_cast<uint32_t>(std::clamp(std::ceil(us / 1e6), 1.0, 1e9));
}

void ShardRateLimiter::wait_on(Lease* l, RateWaiter* w) {
  w->queue.lease = l;
  w->queue.next = nullptr;
  w->queue.prev = l->tail;
  if (l->tail) {
    l->tail->queue.next = w;
  } else {
    l->head = w;
  }
  l->tail = w;
}

RateWaiter* ShardRateLimiter::pop_waiter(Lease* l) {
  RateWaiter* w = l->head;
  if (w) {
    cancel(w);
  }
  return w;
}

void ShardRateLimiter::cancel(RateWaiter* w) {
  auto* l = static_cast<Lease*>(w->queue.lease);
  if (!l) {
    return;
  }
  (w->queue.prev ? w->queue.prev->queue.next : l->head) = w->queue.next;
  (w->queue.next ? w->queue.next->queue.prev : l->tail) = w->queue.prev;
  w->queue.prev = w->queue.next = nullptr;
  w->queue.lease = nullptr;
}

void ShardRateLimiter::lease_answer(uint64_t tag, bool ok, int64_t granted, int64_t wait_us) {
  Lease* l = reinterpret_cast<Lease*>(static_cast<uintptr_t>(tag));
  const uint32_t policy = l->policy;
  Policy& p = policies_[policy];
  if (l->entry && l->entry->lease == l) {
    l->entry->lease = nullptr;
  }
  l->entry = nullptr;
  // The key's cache entry now: the one the call started from, or one made for the key since
  // (after another key took it meanwhile). Looked up again after each callback, which may move it.
  auto entry_of = [&]() -> Entry* {
    Entry& found = p.entries[l->hash & p.mask];
    return found.hash == l->hash ? &found : nullptr;
  };
  Entry* e = entry_of();
  uint32_t spare = 0;  // tokens with no cache entry to go to
  if (ok) {
    const uint32_t got = static_cast<uint32_t>(std::clamp<int64_t>(granted, 0, UINT32_MAX));
    if (got > 0) {
      p.counters.leases.fetch_add(1, std::memory_order_relaxed);
    }
    if (e) {
      e->tokens += got;
      if (got < l->want) {
        // Redis is out of tokens once these are used: no call until the next one is due.
        const double wait =
            got == 0 ? static_cast<double>(std::max<int64_t>(0, wait_us)) : std::ceil(p.interval);
        const uint64_t now_us = clock_us_ ? std::max(*clock_us_, last_now_us_) : last_now_us_;
        e->empty_until_us = now_us + static_cast<uint64_t>(wait);
      }
    } else {
      spare = got;
    }
  }
  // Redis had at least what was asked: waiters beyond it may be served by another batch.
  const bool more = ok && granted >= l->want;
  Lease* detached = nullptr;  // that batch, for a key that has no cache entry now
  while (RateWaiter* w = pop_waiter(l)) {
    uint32_t retry_after_s = 0;
    if (!ok) {
      const RateVerdict v = on_error(p, &retry_after_s);
      w->rate_decided(v == RateVerdict::kAllowed, retry_after_s);
      continue;
    }
    Entry* now_entry = entry_of();
    uint32_t& pool = now_entry ? now_entry->tokens : spare;
    if (pool > 0) {
      --pool;
      p.counters.allowed.fetch_add(1, std::memory_order_relaxed);
      w->rate_decided(true, 0);
      continue;
    }
    if (more) {
      Lease* next = nullptr;
      if (now_entry) {
        next = now_entry->lease ? now_entry->lease
                                : start_lease(policy, now_entry, l->key, l->hash, p.batch);
      } else {
        if (!detached) {
          detached = start_lease(policy, nullptr, l->key, l->hash, p.batch);
        }
        next = detached;
      }
      if (next) {
        wait_on(next, w);
        continue;
      }
      const RateVerdict v = on_error(p, &retry_after_s);
      w->rate_decided(v == RateVerdict::kAllowed, retry_after_s);
      continue;
    }
    p.counters.limited.fetch_add(1, std::memory_order_relaxed);
    w->rate_decided(false, retry_seconds(p, wait_us));
  }
  // Waiters used most of the batch: ask for the next one now, as a request taking a token would.
  Entry* after = entry_of();
  if (more && after && p.batch >= 2 && !after->lease && after->tokens <= p.batch / 2) {
    start_lease(policy, after, l->key, l->hash, p.batch);
  }
  if (spare > 0 && backend_ && backend_->usable()) {
    backend_->lease(p.name, l->key, p.interval_us, p.burst, -static_cast<int64_t>(spare), nullptr,
                    0);
  }
  l->next_free = free_leases_;
  free_leases_ = l;
}

bool ShardRateLimiter::check(uint32_t policy, std::string_view key, uint64_t now_us,
                             uint32_t* retry_after_s) {
  Policy& p = policies_[policy];
  if (p.remote) {
    return admit(policy, key, now_us, retry_after_s, nullptr) == RateVerdict::kAllowed;
  }
  const uint64_t hash = hash_of(p, key);
  const uint64_t now_ticks = now_us * kRateTicksPerUs;
  last_now_us_ = now_us;
  Entry& e = entry_for(p, hash, key, now_ticks);
  e.last_us = now_us;
  if (e.tokens == 0) {
    if (!e.slot || e.slot->key.load(std::memory_order_acquire) != hash) {
      bool overflow = false;
      e.slot = &p.table->slot(hash, now_ticks, &overflow);
      if (overflow) {
        p.counters.overflow.fetch_add(1, std::memory_order_relaxed);
      }
    }
    uint64_t wait_ticks = 0;
    const uint32_t got = p.table->lease(*e.slot, p.batch, now_ticks, &wait_ticks);
    if (got == 0) {
      const uint64_t ticks_per_s = 1000000 * kRateTicksPerUs;
      *retry_after_s = static_cast<uint32_t>(
          std::max<uint64_t>(1, (wait_ticks + ticks_per_s - 1) / ticks_per_s));
      p.counters.limited.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    p.counters.leases.fetch_add(1, std::memory_order_relaxed);
    e.tokens = got;
    if (!armed()) {
      timers_.arm(*this, now_us / 1000 + kSweepMs);
    }
  }
  --e.tokens;
  p.counters.allowed.fetch_add(1, std::memory_order_relaxed);
  return true;
}

uint64_t ShardRateLimiter::remaining(uint32_t policy, std::string_view key, uint64_t now_us) {
  Policy& p = policies_[policy];
  const uint64_t hash = hash_of(p, key);
  const Entry& e = p.entries[hash & p.mask];
  uint64_t local = 0;
  const SharedRateTable::Slot* slot = nullptr;
  if (e.hash == hash) {
    local = e.tokens;
    slot = e.slot;
  }
  if (!slot || slot->key.load(std::memory_order_acquire) != hash) {
    return local;
  }
  return local + p.table->available(*slot, now_us * kRateTicksPerUs);
}

bool ShardRateLimiter::sweep(uint64_t now_us) {
  const uint64_t now_ticks = now_us * kRateTicksPerUs;
  bool holding = false;
  for (Policy& p : policies_) {
    for (Entry& e : p.entries) {
      if (e.tokens == 0) {
        continue;
      }
      if (now_us - std::min(now_us, e.last_us) >= (p.remote ? kRemoteLeaseIdleUs : kLeaseIdleUs)) {
        release(p, e, now_ticks);
      } else {
        holding = true;
      }
    }
  }
  return holding;
}

void ShardRateLimiter::on_sweep(Timer* t) {
  auto* self = static_cast<ShardRateLimiter*>(t);
  const uint64_t now_us = std::max(self->last_now_us_, monotonic_ns() / 1000);
  if (self->sweep(now_us)) {
    self->timers_.arm(*self, now_us / 1000 + kSweepMs);
  }
}

uint64_t ShardRateLimiter::held(uint32_t policy) const {
  uint64_t n = 0;
  for (const Entry& e : policies_[policy].entries) {
    n += e.tokens;
  }
  return n;
}

}  // namespace ringgate
