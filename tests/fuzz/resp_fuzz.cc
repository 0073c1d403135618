// libFuzzer target for the RESP reply parser (what the Redis link reads from its socket): any
// bytes, parsed as a stream of pipelined replies from an exact-size heap block, so
// AddressSanitizer catches a read past it. Invariants: a parsed reply uses at least one byte and
// no more than there are, its text lies inside the buffer, every strict prefix of it needs more,
// and a command built from the input's pieces parses back as the array of those pieces.

#define FUZZ_TARGET "fuzz_resp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "ringgate/redis/resp.h"

namespace {

namespace resp = ringgate::resp;

void parse_stream(const char* data, size_t size) {
  size_t at = 0;
  while (at < size) {
    resp::Reply r;
    size_t used = 0;
    const resp::Parse p = resp::parse_reply(data + at, size - at, r, &used);
    if (p != resp::Parse::kDone) {
      return;
    }
    FUZZ_CHECK(used >= 1 && used <= size - at);
    if (r.type == resp::Reply::Type::kSimple || r.type == resp::Reply::Type::kError ||
        r.type == resp::Reply::Type::kBulk) {
      FUZZ_CHECK(r.text.empty() ||
                 (r.text.data() >= data + at && r.text.data() + r.text.size() <= data + at + used));
    }
    FUZZ_CHECK(r.int_count <= resp::Reply::kMaxInts);
    if (used <= 256) {  // every strict prefix of a reply is incomplete (bounded: quadratic)
      for (size_t k = 0; k < used; ++k) {
        resp::Reply q;
        size_t u = 0;
        FUZZ_CHECK(resp::parse_reply(data + at, k, q, &u) == resp::Parse::kNeedMore);
      }
    }
    at += used;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto block = std::make_unique<char[]>(size);
  std::memcpy(block.get(), data, size);
  parse_stream(block.get(), size);

  // The input cut at '|' into arguments: the command is a valid reply holding them back.
  std::vector<resp::Arg> args;
  std::string_view rest(block.get(), size);
  while (args.size() < 8) {
    const size_t bar = rest.find('|');
    args.push_back(resp::Arg{{rest.substr(0, bar)}});
    if (bar == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(bar + 1);
  }
  std::string out;
  resp::append_command(out, args.data(), args.size());
  resp::Reply r;
  size_t used = 0;
  FUZZ_CHECK(resp::parse_reply(out.data(), out.size(), r, &used) == resp::Parse::kDone);
  FUZZ_CHECK(used == out.size());
  FUZZ_CHECK(r.type == resp::Reply::Type::kArray && r.count == args.size());
  // Each element again, one by one after the array header.
  size_t at = out.find("\r\n") + 2;
  for (const resp::Arg& a : args) {
    resp::Reply e;
    size_t u = 0;
    FUZZ_CHECK(resp::parse_reply(out.data() + at, out.size() - at, e, &u) == resp::Parse::kDone);
    FUZZ_CHECK(e.type == resp::Reply::Type::kBulk && e.text == a.parts[0]);
    at += u;
  }
  FUZZ_CHECK(at == out.size());
  return 0;
}
