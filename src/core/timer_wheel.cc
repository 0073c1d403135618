#include "ringgate/core/timer_wheel.h"

namespace ringgate {

Timer::~Timer() {
  if (wheel_) {
    wheel_->disarm(*this);
  }
}

TimerWheel::TimerWheel(uint64_t now_ms) : current_tick_(now_ms / kTickMs) {}

TimerWheel::~TimerWheel() {
  for (Timer*& head : slots_) {
    while (head) {
      Timer* t = head;
      head = t->next_;
      t->wheel_ = nullptr;
      t->prev_ = t->next_ = nullptr;
    }
  }
}

void TimerWheel::arm(Timer& t, uint64_t deadline_ms) {
  // Round up so a timer never fires early; never into the tick already processed.
  uint64_t tick = (deadline_ms + kTickMs - 1) / kTickMs;
  if (tick <= current_tick_) {
    tick = current_tick_ + 1;
  }
  const auto slot = static_cast<uint32_t>(tick % kSlots);
  if (t.wheel_ == this && t.slot_ == slot) {
    // Re-armed into the slot it is in (a keep-alive timer pushed back by one more request, most
    // often): the scan of a slot checks each timer's deadline, so only the deadline changes.
    t.deadline_ms_ = deadline_ms;
    lower_earliest(deadline_ms);
    return;
  }
  if (t.wheel_) {
    disarm(t);
  }
  t.slot_ = slot;
  Timer*& head = slots_[t.slot_];
  t.deadline_ms_ = deadline_ms;
  t.wheel_ = this;
  t.prev_ = nullptr;
  t.next_ = head;
  if (head) {
    head->prev_ = &t;
  }
  head = &t;
  ++size_;
  lower_earliest(deadline_ms);
}

void TimerWheel::disarm(Timer& t) {
  if (t.wheel_ != this) {
    return;
  }
  if (t.prev_) {
    t.prev_->next_ = t.next_;
  } else {
    slots_[t.slot_] = t.next_;
  }
  if (t.next_) {
    t.next_->prev_ = t.prev_;
  }
  t.prev_ = t.next_ = nullptr;
  t.wheel_ = nullptr;
  --size_;
  if (size_ == 0) {
    earliest_ms_ = UINT64_MAX;
  }
}

void TimerWheel::advance(uint64_t now_ms, uint32_t max_fired) {
  const uint64_t target = now_ms / kTickMs;
  if (size_ == 0) {
    current_tick_ = target;
    return;
  }
  // Skip empty time quickly: nothing can fire before earliest_ms_.
  uint64_t start = current_tick_ + 1;
  if (earliest_ms_ != UINT64_MAX && earliest_ms_ / kTickMs > start) {
    start = earliest_ms_ / kTickMs;
  }
  if (target >= start + kSlots) {
    start = target - kSlots + 1;  // a full lap covers every slot
  }
  uint32_t fired = 0;
  for (uint64_t tick = start; tick <= target; ++tick) {
    Timer** link = &slots_[tick % kSlots];
    while (*link) {
      Timer* t = *link;
      if (t->deadline_ms_ > now_ms) {
        link = &t->next_;
        continue;
      }
      if (fired == max_fired) {
        // The rest of this tick and the ticks after it wait for the next call; earliest_ms_ is
        // at most this timer's deadline, so next_timeout_ms() says 0 meanwhile.
        current_tick_ = tick - 1;
        lower_earliest(t->deadline_ms_);
        return;
      }
      ++fired;
      disarm(*t);
      current_tick_ = tick;  // re-arms from the callback land after this tick
      if (t->callback_) {
        t->callback_(t);
      }
      link = &slots_[tick % kSlots];  // the list may have changed; rescan this slot
    }
  }
  current_tick_ = target;
  if (size_ == 0) {
    earliest_ms_ = UINT64_MAX;
  } else if (earliest_ms_ <= now_ms) {
    // Something fired (or a disarmed timer left the bound stale): find the true next deadline so
    // an idle shard sleeps until then instead of waking every tick.
    recompute_earliest();
  }
}

void TimerWheel::recompute_earliest() {
  // Ticks are visited in order from the next one, so the first slot holding a timer due in that
  // very tick ends the search: no later slot can hold an earlier deadline (a timer there is due in
  // a later tick or a later lap). Visiting every armed timer instead cost a cache miss per
  // connection after each expiry: with 4,000 slow-header clients timing out a few per tick, that
  // walk stalled the shard for ~0.4 ms every 10 ms tick. Only when nothing is due within a lap is
  // every timer visited, and then the next expiry is a lap away.
  earliest_ms_ = UINT64_MAX;
  for (uint64_t tick = current_tick_ + 1; tick <= current_tick_ + kSlots; ++tick) {
    for (Timer* t = slots_[tick % kSlots]; t; t = t->next_) {
      if (t->deadline_ms_ < earliest_ms_) {
        earliest_ms_ = t->deadline_ms_;
      }
    }
    if (earliest_ms_ <= tick * kTickMs) {
      return;
    }
  }
}

int TimerWheel::next_timeout_ms(uint64_t now_ms) const {
  if (size_ == 0) {
    return -1;
  }
  uint64_t next_tick_ms = (current_tick_ + 1) * kTickMs;
  uint64_t at = earliest_ms_ > next_tick_ms ? earliest_ms_ : next_tick_ms;
  if (at <= now_ms) {
    return 0;
  }
  uint64_t d = at - now_ms;
  return d > 1000000 ? 1000000 : static_cast<int>(d);
}

}  // namespace ringgate
