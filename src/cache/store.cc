// The cache store (ringgate/cache/store.h): lock-free reads through hazard slots, CAS writes,
// a CLOCK hand for eviction and a count-min sketch as the admission doorkeeper.

#include "ringgate/cache/store.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "ringgate/core/hash.h"

namespace ringgate {

namespace {

// One hazard slot per thread that reads a cache (shards, the admin thread); a thread takes a
// free one on its first read and gives it back when it exits.
constexpr size_t kHazardSlots = 256;

struct alignas(64) HazardSlot {
  std::atomic<const CacheEntry*> entry{nullptr};
  std::atomic<bool> taken{false};
};

HazardSlot g_hazards[kHazardSlots];

// Slots ever taken: scans stop there.
std::atomic<size_t> g_hazard_high{0};

struct ThreadHazard {
  HazardSlot* slot = nullptr;
  ~ThreadHazard() {
    if (slot) {
      slot->entry.store(nullptr, std::memory_order_release);
      slot->taken.store(false, std::memory_order_release);
    }
  }
  HazardSlot* get() {
    if (slot) {
      return slot;
    }
    for (size_t i = 0; i < kHazardSlots; ++i) {
      bool expected = false;
      if (!g_hazards[i].taken.load(std::memory_order_relaxed) &&
          g_hazards[i].taken.compare_exchange_strong(expected, true)) {
        slot = &g_hazards[i];
        size_t high = g_hazard_high.load();
        while (high < i + 1 && !g_hazard_high.compare_exchange_weak(high, i + 1)) {
        }
        return slot;
      }
    }
    return nullptr;  // more reading threads than slots: such a thread reads nothing cached
  }
};

thread_local ThreadHazard t_hazard;

bool hazard_names(const CacheEntry* e) {
  const size_t high = g_hazard_high.load();
  for (size_t i = 0; i < high; ++i) {
    if (g_hazards[i].entry.load() == e) {
      return true;
    }
  }
  return false;
}

// Loads the entry in `slot` and keeps it alive (named by this thread's hazard slot) while
// `use` reads it; the hazard is cleared after. Returns the entry seen (nullptr: empty slot, or
// no hazard slot for this thread); `use` is not called then.
template <typename Use>
CacheEntry* visit(std::atomic<CacheEntry*>& slot, Use&& use) {
  HazardSlot* hazard = t_hazard.get();
  CacheEntry* e = slot.load(std::memory_order_acquire);
  if (!hazard) {
    return nullptr;
  }
  while (e) {
    // Published before the slot is read again: a remover that takes it out after this check
    // sees the hazard and leaves it alive.
    hazard->entry.store(e);
    CacheEntry* again = slot.load();
    if (again == e) {
      use(*e);
      break;
    }
    e = again;
  }
  hazard->entry.store(nullptr, std::memory_order_release);
  return e;
}

size_t round_up_pow2(size_t n) {
  size_t p = 1;
  while (p < n) {
    p <<= 1;
  }
  return p;
}

// Rows of the sketch: four independent positions from one 64-bit hash.
size_t sketch_index(uint64_t hash, int row, size_t width) {
  const uint64_t h = mix64(hash + static_cast<uint64_t>(row) * 0x9e3779b97f4a7c15ull);
  return static_cast<size_t>(row) * width + (h & (width - 1));
}

// An entry whose bytes an assumed average response takes: sizes the table for the budget.
constexpr uint64_t kAverageObject = 4096;
constexpr size_t kMinSlots = 1024;
constexpr size_t kMaxSlots = size_t{1} << 22;
// An insert scans at most this many slots for each entry it needs to evict.
constexpr size_t kEvictSteps = 4096;

}  // namespace

CacheEntry* CacheEntry::make(const Parts& p) {
  const std::string_view pieces[4] = {p.tags, p.vary, p.etag, p.last_modified};
  size_t size = p.key.size() + p.head.size() + p.body.size();
  for (std::string_view piece : pieces) {
    size += piece.size();
  }
  void* memory = std::malloc(sizeof(CacheEntry) + size);
  if (!memory) {
    return nullptr;
  }
  auto* e = new (memory) CacheEntry();
  char* out = reinterpret_cast<char*>(e + 1);
  const auto put = [&out](std::string_view s) {
    if (!s.empty()) {
      std::memcpy(out, s.data(), s.size());
    }
    out += s.size();
  };
  e->kind_ = p.kind;
  e->hash_ = p.hash;
  e->key_len_ = static_cast<uint32_t>(p.key.size());
  e->path_offset_ = static_cast<uint32_t>(p.path_offset);
  e->path_len_ = static_cast<uint32_t>(p.path_length);
  e->head_len_ = static_cast<uint32_t>(p.head.size());
  e->body_len_ = static_cast<uint32_t>(p.body.size());
  put(p.key);
  put(p.head);
  put(p.body);
  uint32_t at = e->key_len_ + e->head_len_ + e->body_len_;
  for (int i = 0; i < 4; ++i) {
    e->piece_off_[i] = at;
    e->piece_len_[i] = static_cast<uint32_t>(pieces[i].size());
    put(pieces[i]);
    at += e->piece_len_[i];
  }
  e->status_ = p.status;
  e->has_date_ = p.has_date;
  e->must_revalidate_ = p.must_revalidate;
  e->no_cache_ = p.no_cache;
  e->stored_us_ = p.stored_us;
  e->initial_age_s_ = p.initial_age_s;
  e->fresh_s_ = p.fresh_s;
  e->swr_s_ = p.stale_while_revalidate_s;
  e->sie_s_ = p.stale_if_error_s;
  // What the allocator really holds for it, near enough (its header and rounding).
  e->charge_ = sizeof(CacheEntry) + size + 16;
  return e;
}

void CacheEntry::release() const {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    this->~CacheEntry();
    std::free(const_cast<CacheEntry*>(this));
  }
}

CacheStore::CacheStore(std::string name, uint64_t memory, uint64_t max_object)
    : name_(std::move(name)), memory_(memory), max_object_(max_object) {
  slot_count_ = std::clamp<size_t>(round_up_pow2(static_cast<size_t>(2 * memory / kAverageObject)),
                                   kMinSlots, kMaxSlots);
  group_mask_ = slot_count_ / kGroup - 1;
  slots_.reset(new std::atomic<CacheEntry*>[slot_count_]);
  tags_.reset(new std::atomic<uint64_t>[slot_count_]);
  for (size_t i = 0; i < slot_count_; ++i) {
    slots_[i].store(nullptr, std::memory_order_relaxed);
    tags_[i].store(0, std::memory_order_relaxed);
  }
  sketch_width_ = slot_count_;
  sketch_.reset(new std::atomic<uint8_t>[4 * sketch_width_]);
  for (size_t i = 0; i < 4 * sketch_width_; ++i) {
    sketch_[i].store(0, std::memory_order_relaxed);
  }
  sample_ = 10 * sketch_width_;
  fills_.reset(new std::atomic<uint64_t>[kFillSlots]);
  for (size_t i = 0; i < kFillSlots; ++i) {
    fills_[i].store(0, std::memory_order_relaxed);
  }
  counters_.reset(new Counters[kCounterSlots]);
  for (size_t s = 0; s < kCounterSlots; ++s) {
    for (auto& n : counters_[s].n) {
      n.store(0, std::memory_order_relaxed);
    }
  }
}

CacheStore::~CacheStore() {
  // No reader is left: every shard using this store has stopped.
  for (size_t i = 0; i < slot_count_; ++i) {
    if (CacheEntry* e = slots_[i].load()) {
      e->release();
    }
  }
  for (CacheEntry* e : retired_) {
    e->release();
  }
}

void CacheStore::resize(uint64_t memory, uint64_t max_object) {
  memory_.store(memory, std::memory_order_relaxed);
  max_object_.store(max_object, std::memory_order_relaxed);
}

const CacheEntry* CacheStore::find(uint64_t hash, std::string_view key) {
  const size_t base = (hash & group_mask_) * kGroup;
  for (size_t i = base; i < base + kGroup; ++i) {
    if (tags_[i].load(std::memory_order_relaxed) != hash) {
      continue;  // (a tag is a hint: the entry is checked under a hazard below)
    }
    const CacheEntry* found = nullptr;
    visit(slots_[i], [&](const CacheEntry& e) {
      if (e.hash_ == hash && e.key() == key) {
        e.retain();
        found = &e;
      }
    });
    if (found) {
      return found;
    }
  }
  return nullptr;
}

void CacheStore::note_miss(uint64_t hash) {
  for (int row = 0; row < 4; ++row) {
    std::atomic<uint8_t>& c = sketch_[sketch_index(hash, row, sketch_width_)];
    const uint8_t v = c.load(std::memory_order_relaxed);
    if (v < 15) {
      c.store(static_cast<uint8_t>(v + 1), std::memory_order_relaxed);
    }
  }
  if (sketch_adds_.fetch_add(1, std::memory_order_relaxed) + 1 == sample_) {
    // Ageing: every count halves, so old popularity fades. Racy by design (counts are
    // estimates); only the thread that reached the sample does it.
    sketch_adds_.store(0, std::memory_order_relaxed);
    for (size_t i = 0; i < 4 * sketch_width_; ++i) {
      sketch_[i].store(static_cast<uint8_t>(sketch_[i].load(std::memory_order_relaxed) >> 1),
                       std::memory_order_relaxed);
    }
  }
}

uint32_t CacheStore::sketch_estimate(uint64_t hash) const {
  uint32_t least = 15;
  for (int row = 0; row < 4; ++row) {
    least = std::min<uint32_t>(
        least, sketch_[sketch_index(hash, row, sketch_width_)].load(std::memory_order_relaxed));
  }
  return least;
}

bool CacheStore::insert(CacheEntry* entry) {
  const uint64_t charge = entry->charge();
  const uint64_t budget = memory();
  if (entry->body_len_ > max_object() || charge > budget) {
    entry->release();
    not_admitted_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  // A newer response for a stored key (a refresh) takes its place: only the difference needs
  // room, and the doorkeeper has no say (the key is in use).
  uint64_t replaced = 0;
  if (const CacheEntry* old = find(entry->hash_, entry->key())) {
    replaced = old->charge();
    old->release();
  }
  const uint64_t need = charge > replaced ? charge - replaced : 0;
  if (bytes_.load(std::memory_order_relaxed) + need > budget) {
    // Full: only a key that has missed before may push something out.
    if (replaced == 0 && entry->kind_ == CacheEntry::Kind::kResponse &&
        sketch_estimate(entry->hash_) < 2) {
      entry->release();
      not_admitted_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    while (bytes_.load(std::memory_order_relaxed) + need > budget) {
      if (!evict_one(kEvictSteps)) {
        entry->release();
        not_admitted_.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
    }
  }
  const uint64_t hash = entry->hash_;
  const std::string_view key = entry->key();
  const size_t base = (hash & group_mask_) * kGroup;
  bytes_.fetch_add(charge, std::memory_order_relaxed);
  objects_.fetch_add(1, std::memory_order_relaxed);
  stores_.fetch_add(1, std::memory_order_relaxed);
  const auto placed = [&](size_t i, CacheEntry* old, bool evicted) {
    tags_[i].store(hash, std::memory_order_relaxed);
    if (old) {
      bytes_.fetch_sub(old->charge(), std::memory_order_relaxed);
      objects_.fetch_sub(1, std::memory_order_relaxed);
      if (evicted) {
        evictions_.fetch_add(1, std::memory_order_relaxed);
      }
      retire(old);
    }
    return true;
  };
  for (int attempt = 0; attempt < 4; ++attempt) {
    // The same key: replace it.
    for (size_t i = base; i < base + kGroup; ++i) {
      if (tags_[i].load(std::memory_order_relaxed) != hash) {
        continue;
      }
      bool same = false;
      CacheEntry* e = visit(
          slots_[i], [&](const CacheEntry& old) { same = old.hash_ == hash && old.key() == key; });
      if (same && slots_[i].compare_exchange_strong(e, entry)) {
        return placed(i, e, false);
      }
    }
    // A free slot.
    for (size_t i = base; i < base + kGroup; ++i) {
      CacheEntry* expected = nullptr;
      if (slots_[i].load(std::memory_order_relaxed) == nullptr &&
          slots_[i].compare_exchange_strong(expected, entry)) {
        return placed(i, nullptr, false);
      }
    }
    // The group is full: its least used entry goes.
    size_t victim = base;
    uint8_t least = 255;
    for (size_t i = base; i < base + kGroup; ++i) {
      visit(slots_[i], [&](const CacheEntry& e) {
        const uint8_t f = e.freq_.load(std::memory_order_relaxed);
        if (f < least) {
          least = f;
          victim = i;
        }
      });
    }
    CacheEntry* e = slots_[victim].load(std::memory_order_acquire);
    if (e && slots_[victim].compare_exchange_strong(e, entry)) {
      return placed(victim, e, true);
    }
  }
  bytes_.fetch_sub(charge, std::memory_order_relaxed);
  objects_.fetch_sub(1, std::memory_order_relaxed);
  stores_.fetch_sub(1, std::memory_order_relaxed);
  not_admitted_.fetch_add(1, std::memory_order_relaxed);
  entry->release();
  return false;
}

bool CacheStore::evict_one(size_t steps) {
  for (size_t s = 0; s < steps; ++s) {
    const size_t i = hand_.fetch_add(1, std::memory_order_relaxed) & (slot_count_ - 1);
    bool unused = false;
    CacheEntry* e = visit(slots_[i], [&](const CacheEntry& entry) {
      // Second chance: a used entry loses one mark per sweep.
      const uint8_t f = entry.freq_.load(std::memory_order_relaxed);
      if (f > 0) {
        entry.freq_.store(static_cast<uint8_t>(f - 1), std::memory_order_relaxed);
      } else {
        unused = true;
      }
    });
    if (unused && take_out(slots_[i], e)) {
      evictions_.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
  }
  return false;
}

bool CacheStore::take_out(std::atomic<CacheEntry*>& slot, CacheEntry* e) {
  if (!slot.compare_exchange_strong(e, nullptr)) {
    return false;
  }
  bytes_.fetch_sub(e->charge(), std::memory_order_relaxed);
  objects_.fetch_sub(1, std::memory_order_relaxed);
  retire(e);
  return true;
}

bool CacheStore::remove(uint64_t hash, std::string_view key, const CacheEntry* expected) {
  const size_t base = (hash & group_mask_) * kGroup;
  for (size_t i = base; i < base + kGroup; ++i) {
    if (tags_[i].load(std::memory_order_relaxed) != hash) {
      continue;
    }
    bool match = false;
    CacheEntry* e = visit(slots_[i], [&](const CacheEntry& found) {
      match = found.hash_ == hash && found.key() == key && (!expected || &found == expected);
    });
    if (match) {
      return take_out(slots_[i], e);
    }
  }
  return false;
}

void CacheStore::retire(CacheEntry* e) {
  if (!hazard_names(e)) {
    e->release();  // the table's reference
  } else {
    std::lock_guard<std::mutex> lock(retired_mu_);
    retired_.push_back(e);
    retired_count_.store(retired_.size(), std::memory_order_release);
  }
  collect();
}

void CacheStore::collect() {
  if (retired_count_.load(std::memory_order_acquire) == 0) {
    return;  // the usual case: no lock taken
  }
  std::lock_guard<std::mutex> lock(retired_mu_);
  size_t kept = 0;
  for (CacheEntry* e : retired_) {
    if (hazard_names(e)) {
      retired_[kept++] = e;
    } else {
      e->release();
    }
  }
  retired_.resize(kept);
  retired_count_.store(kept, std::memory_order_release);
}

size_t CacheStore::purge_if(const std::function<bool(const CacheEntry&)>& match) {
  size_t removed = 0;
  for (size_t i = 0; i < slot_count_; ++i) {
    bool hit = false;
    CacheEntry* e = visit(slots_[i], [&](const CacheEntry& entry) { hit = match(entry); });
    if (hit && take_out(slots_[i], e)) {
      ++removed;
    }
  }
  purged_.fetch_add(removed, std::memory_order_relaxed);
  return removed;
}

size_t CacheStore::purge_prefix(std::string_view prefix) {
  return purge_if(
      [prefix](const CacheEntry& e) { return e.path().substr(0, prefix.size()) == prefix; });
}

size_t CacheStore::purge_tag(std::string_view tag) {
  return purge_if([tag](const CacheEntry& e) {
    std::string_view tags = e.tags();
    while (!tags.empty()) {
      const size_t end = tags.find('\n');
      if (tags.substr(0, end) == tag) {
        return true;
      }
      tags.remove_prefix(end == std::string_view::npos ? tags.size() : end + 1);
    }
    return false;
  });
}

CacheStats CacheStore::stats() const {
  CacheStats s;
  uint64_t n[static_cast<size_t>(CacheEvent::kCount)] = {};
  for (size_t slot = 0; slot < kCounterSlots; ++slot) {
    for (size_t k = 0; k < std::size(n); ++k) {
      n[k] += counters_[slot].n[k].load(std::memory_order_relaxed);
    }
  }
  s.hits = n[static_cast<size_t>(CacheEvent::kHit)];
  s.misses = n[static_cast<size_t>(CacheEvent::kMiss)];
  s.stale = n[static_cast<size_t>(CacheEvent::kStale)];
  s.bypass = n[static_cast<size_t>(CacheEvent::kBypass)];
  s.coalesced = n[static_cast<size_t>(CacheEvent::kCoalesced)];
  s.revalidated = n[static_cast<size_t>(CacheEvent::kRevalidated)];
  s.uncacheable = n[static_cast<size_t>(CacheEvent::kUncacheable)];
  s.stores = stores_.load(std::memory_order_relaxed);
  s.not_admitted = not_admitted_.load(std::memory_order_relaxed);
  s.evictions = evictions_.load(std::memory_order_relaxed);
  s.purged = purged_.load(std::memory_order_relaxed);
  s.objects = objects_.load(std::memory_order_relaxed);
  s.bytes = bytes_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace ringgate
