#pragma once
// A FIFO of objects that link themselves (a ListLink member): push, pop and removal from the
// middle in constant time, nothing allocated. An object is in at most one list per link; removing
// it from a list it is not in does nothing.

namespace ringgate {

template <typename T>
struct ListLink {
  T* prev = nullptr;
  T* next = nullptr;
  const void* list = nullptr;  // the list it is in
};

template <typename T, ListLink<T> T::*Link>
class IntrusiveList {
 public:
  bool empty() const { return head_ == nullptr; }
  bool contains(const T& t) const { return (t.*Link).list == this; }

  void push_back(T& t) {
    ListLink<T>& l = t.*Link;
    l.prev = tail_;
    l.next = nullptr;
    l.list = this;
    if (tail_) {
      (tail_->*Link).next = &t;
    } else {
      head_ = &t;
    }
    tail_ = &t;
  }

  void remove(T& t) {
    ListLink<T>& l = t.*Link;
    if (l.list != this) {
      return;
    }
    if (l.prev) {
      (l.prev->*Link).next = l.next;
    } else {
      head_ = l.next;
    }
    if (l.next) {
      (l.next->*Link).prev = l.prev;
    } else {
      tail_ = l.prev;
    }
    l = ListLink<T>{};
  }

  T* pop_front() {
    T* t = head_;
    if (t) {
      remove(*t);
    }
    return t;
  }

 private:
  T* head_ = nullptr;
  T* tail_ = nullptr;
};

}  // namespace ringgate
