#pragma once
// A response body checked with the gateway's own JSON reader (a gateway's JSON must always be
// valid), with lookups of raw values by path.

#include <string>
#include <string_view>

#include "ringgate/aggregate/json.h"

namespace ringgate::it {

class JsonBody {
 public:
  explicit JsonBody(std::string text) : text_(std::move(text)) {
    size_ = text_.size();
    text_.append(json::kPadding, '\0');
    std::string_view why;
    valid_ = reader_.validate(text_.data(), size_, {}, &why);
    why_ = why;
  }
  bool valid() const { return valid_; }
  const std::string& why() const { return why_; }
  // The raw JSON at `path`, or "<absent>".
  std::string at(const std::string& path) {
    json::Path p;
    std::string why;
    if (!json::Path::parse(path, &p, &why)) {
      return "<bad path: " + why + ">";
    }
    std::string_view raw;
    return reader_.find(p, &raw) == json::Status::kOk ? std::string(raw) : "<absent>";
  }

 private:
  std::string text_;
  size_t size_ = 0;
  json::Reader reader_;
  bool valid_ = false;
  std::string why_;
};

}  // namespace ringgate::it
