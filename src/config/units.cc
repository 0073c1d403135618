// Sizes and durations as written in the config: "16KiB", "8MiB", "512"; "300ms", "60s", "2m", "1h".

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "ringgate/config/config.h"

namespace ringgate {
namespace {

struct Unit {
  std::string_view suffix;
  uint64_t factor;
};

// Binary (KiB) and decimal (KB) units are both common in configs; reading "4KB" as 4096 would
// silently disagree with every other tool, so KB means 1000.
constexpr Unit kSizeUnits[] = {
    {"", 1},
    {"B", 1},
    {"KiB", uint64_t{1} << 10},
    {"MiB", uint64_t{1} << 20},
    {"GiB", uint64_t{1} << 30},
    {"TiB", uint64_t{1} << 40},
    {"KB", 1000},
    {"MB", 1000 * 1000},
    {"GB", 1000 * 1000 * 1000},
    {"TB", uint64_t{1000} * 1000 * 1000 * 1000},
};

// Milliseconds is the resolution of every timer in the gateway, so finer units are refused rather
// than rounded. A bare number is refused too: "timeout: 30" is ambiguous.
constexpr Unit kDurationUnits[] = {
    {"ms", 1},
    {"s", 1000},
    {"m", 60 * 1000},
    {"h", 60 * 60 * 1000},
};

// Leading decimal digits of `text` into `value`; the rest goes to `suffix`. false if there are no
// digits or the number does not fit in 64 bits.
bool split_number(std::string_view text, uint64_t& value, std::string_view& suffix) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  size_t i = 0;
  value = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    const uint64_t digit = static_cast<uint64_t>(text[i] - '0');
    if (value > (kMax - digit) / 10) {
      return false;
    }
    value = value * 10 + digit;
    ++i;
  }
  if (i == 0) {
    return false;
  }
  suffix = text.substr(i);
  return true;
}

bool scale(uint64_t value, std::string_view suffix, const Unit* begin, const Unit* end,
           uint64_t max, uint64_t& out) {
  for (const Unit* unit = begin; unit != end; ++unit) {
    if (unit->suffix == suffix) {
      if (value > max / unit->factor) {
        return false;
      }
      out = value * unit->factor;
      return true;
    }
  }
  return false;
}

// Finer grain for the few settings below a millisecond (server.batch_wait).
constexpr Unit kMicroUnits[] = {
    {"us", 1},
    {"ms", 1000},
    {"s", 1000 * 1000},
};

}  // namespace

bool parse_microseconds(const std::string& text, uint64_t& out) {
  uint64_t value = 0;
  std::string_view suffix;
  if (!split_number(text, value, suffix) || suffix.empty()) {
    return false;
  }
  return scale(value, suffix, std::begin(kMicroUnits), std::end(kMicroUnits),
               std::numeric_limits<uint32_t>::max(), out);
}

bool parse_size(const std::string& text, uint64_t& out) {
  uint64_t value = 0;
  std::string_view suffix;
  if (!split_number(text, value, suffix)) {
    return false;
  }
  return scale(value, suffix, std::begin(kSizeUnits), std::end(kSizeUnits),
               std::numeric_limits<uint64_t>::max(), out);
}

bool parse_duration(const std::string& text, Duration& out) {
  uint64_t value = 0;
  std::string_view suffix;
  if (!split_number(text, value, suffix) || suffix.empty()) {
    return false;
  }
  uint64_t ms = 0;
  constexpr auto kMaxMs = static_cast<uint64_t>(std::numeric_limits<Duration::rep>::max());
  if (!scale(value, suffix, std::begin(kDurationUnits), std::end(kDurationUnits), kMaxMs, ms)) {
    return false;
  }
  out = Duration(static_cast<Duration::rep>(ms));
  return true;
}

}  // namespace ringgate
