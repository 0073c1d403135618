#pragma once
// Memory that a connection's output may point into instead of copying it (a cached response):
// the output takes a reference when it does and gives it back once those bytes are sent (or
// the connection is gone).

namespace ringgate {

class OutHold {
 public:
  virtual void retain() const = 0;
  virtual void release() const = 0;

 protected:
  ~OutHold() = default;
};

}  // namespace ringgate
