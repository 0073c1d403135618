#include <cassert>
#include <charconv>

#include "aggregate/text.h"
#include "ringgate/aggregate/json.h"

namespace ringgate::json {

void Writer::fail() {
  // Out-of-order calls are bugs in the caller; release builds refuse them and report failed().
  assert(!"json::Writer: call out of order");
  failed_ = true;
}

bool Writer::before_value() {
  if (depth_ == 0) {
    if (done_) {
      fail();
      return false;
    }
    return true;
  }
  if (in_object()) {
    if (expect_key_) {
      fail();
      return false;
    }
    return true;  // key() wrote the comma and the colon
  }
  if (!first_) {
    out_->push_back(',');
  }
  return true;
}

void Writer::after_value() {
  if (depth_ == 0) {
    done_ = true;
    return;
  }
  first_ = false;
  expect_key_ = in_object();
}

bool Writer::push(bool object) {
  if (!before_value()) {
    return false;
  }
  if (depth_ >= kMaxNesting) {
    fail();
    return false;
  }
  if (object) {
    kinds_ |= uint64_t{1} << depth_;
  } else {
    kinds_ &= ~(uint64_t{1} << depth_);
  }
  ++depth_;
  first_ = true;
  expect_key_ = object;
  out_->push_back(object ? '{' : '[');
  return true;
}

void Writer::begin_object() {
  push(true);
}

void Writer::begin_array() {
  push(false);
}

void Writer::end_object() {
  if (!in_object() || !expect_key_) {
    fail();
    return;
  }
  out_->push_back('}');
  --depth_;
  after_value();
}

void Writer::end_array() {
  if (depth_ == 0 || in_object()) {
    fail();
    return;
  }
  out_->push_back(']');
  --depth_;
  after_value();
}

void Writer::key(std::string_view name) {
  if (!in_object() || !expect_key_) {
    fail();
    return;
  }
  out_->append(first_ ? "\"" : ",\"", first_ ? 1 : 2);
  detail::append_escaped(out_, name);
  out_->append("\":", 2);
  expect_key_ = false;
}

void Writer::raw_key(std::string_view escaped) {
  if (!in_object() || !expect_key_) {
    fail();
    return;
  }
  out_->append(first_ ? "\"" : ",\"", first_ ? 1 : 2);
  out_->append(escaped);
  out_->append("\":", 2);
  expect_key_ = false;
}

void Writer::raw(std::string_view json) {
  if (json.empty()) {
    fail();
    return;
  }
  if (!before_value()) {
    return;
  }
  out_->append(json);
  after_value();
}

void Writer::raw_member(std::string_view member_json) {
  if (!in_object() || !expect_key_ || member_json.empty()) {
    fail();
    return;
  }
  if (!first_) {
    out_->push_back(',');
  }
  out_->append(member_json);
  first_ = false;
}

void Writer::string(std::string_view text) {
  if (!before_value()) {
    return;
  }
  out_->push_back('"');
  detail::append_escaped(out_, text);
  out_->push_back('"');
  after_value();
}

void Writer::number(int64_t value) {
  if (!before_value()) {
    return;
  }
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, value);
  out_->append(buf, r.ptr);
  after_value();
}

void Writer::boolean(bool value) {
  if (!before_value()) {
    return;
  }
  out_->append(value ? "true" : "false");
  after_value();
}

void Writer::null() {
  if (!before_value()) {
    return;
  }
  out_->append("null", 4);
  after_value();
}

void Writer::rollback(const Mark& m) {
  if (m.size <= out_->size()) {
    out_->resize(m.size);
  }
  kinds_ = m.kinds;
  depth_ = m.depth;
  first_ = m.first;
  expect_key_ = m.expect_key;
  done_ = m.done;
}

}  // namespace ringgate::json
