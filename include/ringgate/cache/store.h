#pragma once
// A response cache's storage (`caches: NAME`): one store per named cache, shared by every shard
// of the process (and by the generations a reload keeps serving).
//
// Shape: an open-addressed table of pointers to immutable, reference-counted entries, in groups
// of 8 slots (one cache line) chosen by the key's hash. Any shard may read, insert, replace or
// remove; none takes a lock to do so:
//   - reading: load the slot, publish the pointer in the thread's hazard slot, check the slot
//     still holds it, then take a reference (so nothing is freed between the load and the
//     reference); a hit then holds its entry as long as its bytes are being sent;
//   - writing: compare-and-swap on the slot; the entry taken out is retired: its table
//     reference is dropped once no hazard slot names it (else it waits on a short list, the
//     only mutex, never on a read);
//   - memory: bytes held are one atomic; an insert that would pass the budget first evicts with
//     a CLOCK hand over the slots (each hit marks its entry as used, up to 3: an entry survives
//     as many sweeps as it was used), and an object is admitted into a full cache only when a
//     count-min sketch of recent misses has seen its key before (a TinyLFU doorkeeper: a scan
//     of one-time keys cannot flush what is used).
// An entry's bytes never change once it is in the table: a fresher response is a new entry
// that replaces it.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "ringgate/cache/policy.h"
#include "ringgate/core/out_hold.h"

namespace ringgate {

// One stored response (or the Vary list of a key whose responses vary). Allocated with its
// bytes after it; shared read-only once inserted.
class CacheEntry final : public OutHold {
 public:
  enum class Kind : uint8_t {
    kResponse,  // a stored response
    kVary,      // the key's responses vary by the request headers in vary(): each variant is an
                // entry of its own, keyed by the key plus those headers' values
  };

  // The parts of a new entry (views copied by make()).
  struct Parts {
    Kind kind = Kind::kResponse;
    uint64_t hash = 0;
    std::string_view key;
    size_t path_offset = 0;  // where the request path lies in key (for purge by prefix)
    size_t path_length = 0;
    std::string_view head;  // status line and header lines, no final CRLF
    std::string_view body;
    std::string_view tags;  // purge tags, each followed by '\n'
    std::string_view vary;  // lower-case header names, each followed by '\n'
    std::string_view etag;  // validators for a conditional refresh
    std::string_view last_modified;
    uint16_t status = 0;
    bool has_date = false;         // head carries the origin's Date
    bool must_revalidate = false;  // no stale use (must-revalidate, proxy-revalidate, s-maxage)
    bool no_cache = false;         // stored, but revalidated before every use
    uint64_t stored_us = 0;        // steady clock when the response arrived
    uint64_t initial_age_s = 0;    // its age then (Age, Date)
    uint64_t fresh_s = 0;          // freshness lifetime
    uint64_t stale_while_revalidate_s = 0;
    uint64_t stale_if_error_s = 0;

    // The freshness fields as `d` decided them, for a response that arrived at `now_us`.
    void set_freshness(const StoreDecision& d, uint64_t now_us) {
      must_revalidate = d.must_revalidate;
      no_cache = d.no_cache;
      stored_us = now_us;
      initial_age_s = d.initial_age_s;
      fresh_s = d.fresh_s;
      stale_while_revalidate_s = d.stale_while_revalidate_s;
      stale_if_error_s = d.stale_if_error_s;
    }
  };

  static CacheEntry* make(const Parts& parts);

  void retain() const override { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() const override;

  Kind kind() const { return kind_; }
  uint64_t hash() const { return hash_; }
  std::string_view key() const { return {data(), key_len_}; }
  std::string_view path() const { return {data() + path_offset_, path_len_}; }
  std::string_view head() const { return {data() + key_len_, head_len_}; }
  std::string_view body() const { return {data() + key_len_ + head_len_, body_len_}; }
  std::string_view tags() const { return piece(0); }
  std::string_view vary() const { return piece(1); }
  std::string_view etag() const { return piece(2); }
  std::string_view last_modified() const { return piece(3); }
  uint16_t status() const { return status_; }
  bool has_date() const { return has_date_; }
  bool must_revalidate() const { return must_revalidate_; }
  bool no_cache() const { return no_cache_; }
  uint64_t stale_while_revalidate_s() const { return swr_s_; }
  uint64_t stale_if_error_s() const { return sie_s_; }
  uint64_t fresh_s() const { return fresh_s_; }
  // Seconds since the origin made it (RFC 9111 §4.2.3), at steady-clock `now_us`.
  uint64_t age_s(uint64_t now_us) const {
    return initial_age_s_ + (now_us > stored_us_ ? (now_us - stored_us_) / 1000000 : 0);
  }
  // Bytes it holds, as the budget counts them.
  size_t charge() const { return charge_; }

  // The CLOCK mark: a hit sets it (stores only when it changes, so a hot entry's line is not
  // written on every hit).
  void touch() const {
    const uint8_t f = freq_.load(std::memory_order_relaxed);
    if (f < 3) {
      freq_.store(static_cast<uint8_t>(f + 1), std::memory_order_relaxed);
    }
  }
  // One refresh of this entry at a time (stale-while-revalidate): true for the one that may.
  bool claim_refresh() const { return !refreshing_.exchange(true, std::memory_order_acq_rel); }
  void end_refresh() const { refreshing_.store(false, std::memory_order_release); }

 private:
  friend class CacheStore;
  CacheEntry() = default;
  const char* data() const { return reinterpret_cast<const char*>(this + 1); }
  std::string_view piece(int i) const { return {data() + piece_off_[i], piece_len_[i]}; }

  mutable std::atomic<uint32_t> refs_{1};  // the table's, plus one per holder
  mutable std::atomic<uint8_t> freq_{0};
  mutable std::atomic<bool> refreshing_{false};
  Kind kind_ = Kind::kResponse;
  bool has_date_ = false;
  bool must_revalidate_ = false;
  bool no_cache_ = false;
  uint16_t status_ = 0;
  uint64_t hash_ = 0;
  uint64_t stored_us_ = 0;
  uint64_t initial_age_s_ = 0;
  uint64_t fresh_s_ = 0;
  uint64_t swr_s_ = 0;
  uint64_t sie_s_ = 0;
  uint32_t key_len_ = 0;
  uint32_t path_offset_ = 0;
  uint32_t path_len_ = 0;
  uint32_t head_len_ = 0;
  uint32_t body_len_ = 0;
  uint32_t piece_off_[4] = {};
  uint32_t piece_len_[4] = {};
  size_t charge_ = 0;
};

// What a cache has done (summed over shards when scraped).
struct CacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t stale = 0;         // stale responses served (while revalidating, or on an error)
  uint64_t bypass = 0;        // requests the cache did not take part in
  uint64_t coalesced = 0;     // misses that waited for another request's response
  uint64_t revalidated = 0;   // stored responses refreshed by a 304
  uint64_t stores = 0;        // responses inserted
  uint64_t not_admitted = 0;  // responses the doorkeeper or the budget kept out
  uint64_t uncacheable = 0;   // responses that could not be stored (no-store, too large, ...)
  uint64_t evictions = 0;     // entries evicted to make room
  uint64_t purged = 0;        // entries removed by purge
  uint64_t objects = 0;       // entries held now
  uint64_t bytes = 0;         // bytes held now
};

// Counters a shard bumps (CacheStore::counters).
enum class CacheEvent : uint8_t {
  kHit,
  kMiss,
  kStale,
  kBypass,
  kCoalesced,
  kRevalidated,
  kUncacheable,
  kCount
};

class CacheStore {
 public:
  CacheStore(std::string name, uint64_t memory, uint64_t max_object);
  ~CacheStore();
  CacheStore(const CacheStore&) = delete;
  CacheStore& operator=(const CacheStore&) = delete;

  const std::string& name() const { return name_; }
  uint64_t memory() const { return memory_.load(std::memory_order_relaxed); }
  uint64_t max_object() const { return max_object_.load(std::memory_order_relaxed); }
  // A reload that keeps this cache with other sizes (entries over the new budget are evicted
  // by the next inserts; objects over the new max_object by their next refresh).
  void resize(uint64_t memory, uint64_t max_object);

  // The entry stored for `key` (whose hash is `hash`), with a reference the caller releases;
  // nullptr when none.
  const CacheEntry* find(uint64_t hash, std::string_view key);
  // Inserts `entry` (taking its table reference), replacing one with the same key. False
  // (entry released) when it is larger than max_object, or the cache is full and the
  // doorkeeper has not seen its key miss before.
  bool insert(CacheEntry* entry);
  // Removes the entry stored for `key`, if it is `expected` (or any, when expected is null).
  bool remove(uint64_t hash, std::string_view key, const CacheEntry* expected = nullptr);
  // A miss for `hash`: counted by the doorkeeper's sketch.
  void note_miss(uint64_t hash);
  // Coalescing: the first miss for a key claims its fill (true) and the others wait until the
  // fill ends (end_fill: stored, or given up). One slot per hash; a key whose slot another
  // key's fill holds is not coalesced (claim false, filling false).
  bool claim_fill(uint64_t hash) {
    uint64_t expected = 0;
    return fills_[hash % kFillSlots].compare_exchange_strong(expected, fill_tag(hash));
  }
  bool filling(uint64_t hash) const {
    return fills_[hash % kFillSlots].load(std::memory_order_acquire) == fill_tag(hash);
  }
  void end_fill(uint64_t hash) {
    uint64_t expected = fill_tag(hash);
    fills_[hash % kFillSlots].compare_exchange_strong(expected, 0);
  }
  // Removes every entry whose path starts with `prefix`; returns how many.
  size_t purge_prefix(std::string_view prefix);
  // Removes every entry tagged `tag` (Cache-Tag, Surrogate-Key); returns how many.
  size_t purge_tag(std::string_view tag);

  void count(unsigned shard, CacheEvent e) {
    counters_[shard % kCounterSlots].n[static_cast<size_t>(e)].fetch_add(1,
                                                                         std::memory_order_relaxed);
  }
  CacheStats stats() const;

 private:
  static constexpr size_t kGroup = 8;
  static constexpr size_t kCounterSlots = 64;
  static constexpr size_t kFillSlots = 16384;
  static uint64_t fill_tag(uint64_t hash) { return hash | 1; }  // never 0 (a free slot)
  struct alignas(64) Counters {
    std::atomic<uint64_t> n[static_cast<size_t>(CacheEvent::kCount)];
  };

  // Takes `e` out of `slot` (if still there) and retires it.
  bool take_out(std::atomic<CacheEntry*>& slot, CacheEntry* e);
  void retire(CacheEntry* e);
  // Frees what waited for hazard slots to move on.
  void collect();
  // One CLOCK step after another until an entry is evicted (true) or `steps` are used.
  bool evict_one(size_t steps);
  size_t purge_if(const std::function<bool(const CacheEntry&)>& match);
  uint32_t sketch_estimate(uint64_t hash) const;

  const std::string name_;
  std::atomic<uint64_t> memory_;
  std::atomic<uint64_t> max_object_;
  size_t slot_count_ = 0;
  uint64_t group_mask_ = 0;
  std::unique_ptr<std::atomic<CacheEntry*>[]> slots_;
  // Per slot, the hash of the entry last put there: a hint that spares a lookup the hazard
  // protocol for slots that cannot match (checked again on the entry itself).
  std::unique_ptr<std::atomic<uint64_t>[]> tags_;
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> objects_{0};
  std::atomic<uint64_t> hand_{0};
  std::atomic<uint64_t> stores_{0};
  std::atomic<uint64_t> not_admitted_{0};
  std::atomic<uint64_t> evictions_{0};
  std::atomic<uint64_t> purged_{0};
  // The doorkeeper: 4 rows of 4-bit-wide counters (kept in bytes), halved every `sample_`
  // misses so that it counts recent misses.
  size_t sketch_width_ = 0;
  std::unique_ptr<std::atomic<uint8_t>[]> sketch_;
  std::atomic<uint64_t> sketch_adds_{0};
  uint64_t sample_ = 0;
  std::unique_ptr<Counters[]> counters_;
  std::unique_ptr<std::atomic<uint64_t>[]> fills_;
  std::mutex retired_mu_;
  std::vector<CacheEntry*> retired_;      // removed, still named by a hazard slot
  std::atomic<size_t> retired_count_{0};  // retired_.size(), read without the lock
};

}  // namespace ringgate
