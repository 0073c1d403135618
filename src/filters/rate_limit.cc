#include "ringgate/filters/rate_limit.h"

#include <algorithm>
#include <cstring>
#include <random>

#include "ringgate/core/clock.h"

namespace ringgate {

namespace {

// Slots looked at for a key before it goes to the overflow bucket.
constexpr uint32_t kProbe = 8;
// A key idle this long (and with a full bucket) may lose its slot to another key.
constexpr uint64_t kReclaimUs = 10 * 1000 * 1000;
// Leased tokens of a key that has made no request for this long go back to the shared bucket.
constexpr uint64_t kLeaseIdleUs = 50 * 1000;
constexpr uint64_t kSweepMs = 100;
// Entries of a shard's cache per policy (keys it remembers leases for).
constexpr uint32_t kMaxCacheEntries = 4096;

uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

uint64_t process_seed() {
  static const uint64_t seed = [] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ monotonic_ns();
  }();
  return seed;
}

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

SharedRateLimits::SharedRateLimits(const Config& config) {
  for (const RateLimitPolicy& p : config.rate_limits) {
    tables.push_back(std::make_unique<SharedRateTable>(p));
  }
}

ShardRateLimiter::ShardRateLimiter(const Config& config, SharedRateLimits& shared, unsigned shards,
                                   TimerWheel& timers)
    : Timer(&ShardRateLimiter::on_sweep), policies_(config.rate_limits.size()), timers_(timers) {
  for (size_t i = 0; i < config.rate_limits.size(); ++i) {
    const RateLimitPolicy& rp = config.rate_limits[i];
    Policy& p = policies_[i];
    p.table = shared.tables[i].get();
    p.seed = mix(process_seed() + i * 0x9e3779b97f4a7c15ull);
    // Small batches keep the tokens stranded in other shards' caches few: about 1/50 s of the
    // rate split over the shards, at most a quarter of a shard's share of the burst, 1..64.
    const uint64_t per_second =
        rp.tokens * 1000 / static_cast<uint64_t>(std::max<int64_t>(1, rp.period.count()));
    const uint64_t by_rate = per_second / (50 * std::max(1u, shards));
    const uint64_t by_burst = rp.burst / (4 * std::max(1u, shards));
    p.batch = static_cast<uint32_t>(std::clamp<uint64_t>(std::min(by_rate, by_burst), 1, 64));
    const uint32_t entries = std::min(rp.max_keys, kMaxCacheEntries);
    p.entries.resize(entries);
    p.mask = entries - 1;
  }
}

ShardRateLimiter::~ShardRateLimiter() {
  timers_.disarm(*this);
  const uint64_t now_ticks = monotonic_ns() / 1000 * kRateTicksPerUs;
  for (Policy& p : policies_) {
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
    h = mix(h ^ chunk);
  }
  uint64_t tail = 0;
  if (i < key.size()) {  // an absent header is an empty view that may have no data pointer
    std::memcpy(&tail, key.data() + i, key.size() - i);
  }
  h = mix(h ^ tail);
  return h | 1;  // never 0, the free-slot mark
}

void ShardRateLimiter::release(Policy& p, Entry& e, uint64_t now_ticks) {
  if (e.tokens > 0 && e.slot) {
    // The slot may have passed to another key meanwhile (only after kReclaimUs of quiet): then
    // these few tokens are simply dropped.
    if (e.slot->key.load(std::memory_order_acquire) == e.hash) {
      p.table->give_back(*e.slot, e.tokens, now_ticks);
    }
  }
  e.tokens = 0;
}

bool ShardRateLimiter::check(uint32_t policy, std::string_view key, uint64_t now_us,
                             uint32_t* retry_after_s) {
  Policy& p = policies_[policy];
  const uint64_t hash = hash_of(p, key);
  const uint64_t now_ticks = now_us * kRateTicksPerUs;
  last_now_us_ = now_us;
  Entry& e = p.entries[hash & p.mask];
  if (e.hash != hash) {
    release(p, e, now_ticks);  // another key had this cache entry
    e.hash = hash;
    e.slot = nullptr;
  }
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
      if (now_us - std::min(now_us, e.last_us) >= kLeaseIdleUs) {
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
