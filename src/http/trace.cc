#include "ringgate/http/trace.h"

#include <cstring>

namespace ringgate {

namespace {

bool lower_hex(std::string_view s) {
  for (const char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

bool all_zero(std::string_view s) {
  return s.find_first_not_of('0') == std::string_view::npos;
}

}  // namespace

bool parse_traceparent(std::string_view v, char* trace_id, char* flags) {
  if (v.size() < kTraceparentLength ||
      (v.size() > kTraceparentLength && (v.substr(0, 2) == "00" || v[kTraceparentLength] != '-'))) {
    return false;
  }
  const std::string_view version = v.substr(0, 2);
  const std::string_view id = v.substr(3, 32);
  const std::string_view parent = v.substr(36, 16);
  const std::string_view f = v.substr(53, 2);
  if (v[2] != '-' || v[35] != '-' || v[52] != '-' || !lower_hex(version) || version == "ff" ||
      !lower_hex(id) || !lower_hex(parent) || !lower_hex(f) || all_zero(id) || all_zero(parent)) {
    return false;
  }
  std::memcpy(trace_id, id.data(), 32);
  std::memcpy(flags, f.data(), 2);
  return true;
}

std::string_view TraceContext::id() const {
  if (!on) {
    return {};
  }
  if (draw) {
    draw->next(trace_id);
    draw = nullptr;
  }
  return std::string_view(trace_id, 32);
}

void start_trace(TraceContext& trace, const MessageParser& request, bool accept,
                 RequestIdGenerator& ids) {
  trace.on = true;
  trace.continued = false;
  trace.draw = nullptr;
  if (accept && request.may_have(FieldRule::kTraceparent)) {
    // More than one traceparent line is invalid (it is not a list): a new trace then.
    // (traceparent has a field rule: a head read by a fast path marks where it can be.)
    int found = -1;
    for (int i = request.next_ruled_field(0); i < request.header_count();
         i = request.next_ruled_field(i + 1)) {
      if (request.header_name(i).size() == 11 && iequals(request.header_name(i), "traceparent")) {
        if (found >= 0) {
          found = -2;
          break;
        }
        found = i;
      }
    }
    if (found >= 0 && parse_traceparent(request.header_value(found), trace.trace_id, trace.flags)) {
      trace.continued = true;
      return;
    }
  }
  trace.draw = &ids;  // drawn by id() when the trace id is first quoted
  trace.flags[0] = '0';
  trace.flags[1] = '1';
}

void write_traceparent(char* out, const TraceContext& trace, RequestIdGenerator& ids) {
  std::memcpy(out, "00-", 3);
  std::memcpy(out + 3, trace.id().data(), 32);
  out[35] = '-';
  // A bijection of the generator's counter: distinct per call; all zero (invalid) for one
  // counter value in 2^64, then the next is taken.
  ids.next_half(out + 36);
  if (all_zero(std::string_view(out + 36, 16))) {
    ids.next_half(out + 36);
  }
  out[52] = '-';
  std::memcpy(out + 53, trace.flags, 2);
}

}  // namespace ringgate
