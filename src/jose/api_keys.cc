#include "ringgate/jose/api_keys.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstring>

#include "ringgate/core/hex.h"

namespace ringgate {

namespace {

bool consumer_ok(std::string_view name) {
  if (name.empty() || name.size() > 128) {
    return false;
  }
  for (char c : name) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      return false;  // it goes into a header: no spaces or controls
    }
  }
  return true;
}

}  // namespace

bool ApiKeyTable::parse(std::string_view text, ApiKeyTable* out, std::string* why) {
  std::vector<Entry> entries;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
      line.remove_prefix(1);
    }
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    if (line.empty() || line.front() == '#') {
      continue;
    }
    const size_t space = line.find_first_of(" \t");
    const std::string_view digest = line.substr(0, space);
    std::string_view consumer =
        space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
    while (!consumer.empty() && (consumer.front() == ' ' || consumer.front() == '\t')) {
      consumer.remove_prefix(1);
    }
    Entry e;
    bool ok = digest.size() == 64;
    for (size_t i = 0; ok && i < 32; ++i) {
      const int hi = hex_digit(digest[2 * i]);
      const int lo = hex_digit(digest[2 * i + 1]);
      ok = hi >= 0 && lo >= 0;
      e.digest[i] = static_cast<uint8_t>(hi * 16 + lo);
    }
    if (!ok) {
      *why = "line " + std::to_string(line_no) +
             ": expected the key's SHA-256 as 64 hex digits, then the consumer name";
      return false;
    }
    if (!consumer_ok(consumer)) {
      *why = "line " + std::to_string(line_no) +
             ": the consumer name is missing, longer than 128 bytes, or has spaces or control "
             "characters";
      return false;
    }
    e.consumer.assign(consumer);
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.digest < b.digest; });
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].digest == entries[i - 1].digest) {
      *why = "the same key is listed twice (consumers " + entries[i - 1].consumer + " and " +
             entries[i].consumer + ")";
      return false;
    }
  }
  out->entries_ = std::move(entries);
  return true;
}

const std::string* ApiKeyTable::find(std::string_view key) const {
  if (key.empty()) {
    return nullptr;
  }
  std::array<uint8_t, 32> d{};
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), d.data());
  auto it = std::lower_bound(
      entries_.begin(), entries_.end(), d,
      [](const Entry& e, const std::array<uint8_t, 32>& v) { return e.digest < v; });
  return it != entries_.end() && it->digest == d ? &it->consumer : nullptr;
}

}  // namespace ringgate
