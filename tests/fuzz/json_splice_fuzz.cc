// libFuzzer target for the aggregation JSON code: validate, find, for_each, scalar_text,
// projections, members and the Writer on arbitrary bodies and paths.
//
// Input layout: up to 8 leading lines `#PATH\n` (each a Path to parse and use; without any, a
// fixed set is used), then the body. The body is copied into a heap block of exactly
// len + kPadding bytes whose padding is `\0`, `]`, `}` or `"` (by length), so AddressSanitizer
// catches any read past the padding and the padding's content cannot change a verdict; it is
// validated once more behind the other kind of padding (NUL or not), which must agree.
//
// Invariants: a body that validates gives values that validate on their own and lie inside the
// body; every projection / merge output validates; the identity projection is the trimmed body;
// Writer output validates whatever bytes go into keys and strings.

#define FUZZ_TARGET "fuzz_json_splice"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "ringgate/aggregate/json.h"

namespace {

namespace json = ringgate::json;

constexpr json::Limits kLimits{32, 2000};
// Projections and the wrappers below add a few levels at most.
constexpr json::Limits kOutputLimits{kLimits.max_depth + 4, kLimits.max_array_elements};

struct Fixture {
  json::Reader reader;
  json::Reader check;
  std::string out;
  std::string scratch;
  std::string padded;
};

Fixture& fixture() {
  static Fixture* f = new Fixture();
  return *f;
}

volatile uint64_t g_sink;

// `text` must be exactly one valid JSON value.
void check_valid(Fixture& f, std::string_view text) {
  f.padded.assign(text);
  f.padded.append(json::kPadding, '\0');
  std::string_view why;
  if (!f.check.validate(f.padded.data(), text.size(), kOutputLimits, &why)) {
    std::fprintf(stderr, "output [%.*s]: %.*s\n", static_cast<int>(text.size()), text.data(),
                 static_cast<int>(why.size()), why.data());
    fuzz_fail(FUZZ_TARGET, "output validates");
  }
}

bool inside(std::string_view v, const char* base, size_t len) {
  const auto p = reinterpret_cast<uintptr_t>(v.data());
  const auto b = reinterpret_cast<uintptr_t>(base);
  return !v.empty() && p >= b && p + v.size() <= b + len;
}

// A value found in the body: inside it, valid alone, and scalar_text agrees about its kind.
void check_found(Fixture& f, std::string_view raw, const char* body, size_t len) {
  FUZZ_CHECK(inside(raw, body, len));
  std::string_view text;
  const json::ScalarKind kind = json::scalar_text(raw, &f.scratch, &text);
  FUZZ_CHECK((kind == json::ScalarKind::kNotScalar) == (raw[0] == '{' || raw[0] == '['));
  g_sink = g_sink + text.size();
  check_valid(f, raw);
}

void project(Fixture& f, const json::ProjectionSpec& spec, const char* body, size_t len) {
  json::Projection proj;
  std::string why;
  if (!json::Projection::build(spec, &proj, &why)) {
    FUZZ_CHECK(!why.empty());
    return;
  }
  f.out.clear();
  json::Writer w(f.out);
  w.begin_object();
  w.key("wrapped");
  const json::Status st = f.reader.project(proj, w);
  FUZZ_CHECK(st == json::Status::kOk || st == json::Status::kAbsent);
  if (st == json::Status::kAbsent) {
    FUZZ_CHECK(f.out == "{\"wrapped\":");
    w.null();
  }
  w.end_object();
  FUZZ_CHECK(w.complete());
  check_valid(f, f.out);
  if (proj.is_identity()) {
    std::string_view trimmed(body, len);
    while (!trimmed.empty() && std::strchr(" \t\r\n", trimmed.front()) != nullptr) {
      trimmed.remove_prefix(1);
    }
    while (!trimmed.empty() && std::strchr(" \t\r\n", trimmed.back()) != nullptr) {
      trimmed.remove_suffix(1);
    }
    FUZZ_CHECK(f.out.size() == trimmed.size() + 12);
    FUZZ_CHECK(std::string_view(f.out).substr(11, trimmed.size()) == trimmed);
  }

  f.out.clear();
  json::Writer merged(f.out);
  merged.begin_object();
  const json::Status ms = f.reader.members(proj, [&](const json::Member& m) {
    std::string one = "{\"" + std::string(m.raw_key) + "\":" + std::string(m.value) + "}";
    check_valid(f, one);
    merged.key(m.key);
    merged.raw(m.value);
  });
  merged.end_object();
  FUZZ_CHECK(ms != json::Status::kInvalid);
  FUZZ_CHECK(merged.complete());
  check_valid(f, f.out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fixture& f = fixture();
  std::string_view input(reinterpret_cast<const char*>(data), size);

  std::vector<json::Path> paths;
  std::vector<std::string> texts;
  while (!input.empty() && input.front() == '#' && texts.size() < 8) {
    const size_t nl = input.find('\n');
    if (nl == std::string_view::npos) {
      break;
    }
    texts.emplace_back(input.substr(1, nl - 1));
    input.remove_prefix(nl + 1);
  }
  if (texts.empty()) {
    texts = {"", "a", "a.b", "[0]", "[1].a", "[*]", "[*].a", "a[*]", "a[0].b", "b"};
  }
  for (const std::string& t : texts) {
    json::Path p;
    std::string why;
    if (json::Path::parse(t, &p, &why)) {
      FUZZ_CHECK(p.text() == t);
      paths.push_back(std::move(p));
    } else {
      FUZZ_CHECK(!why.empty());
    }
  }

  const size_t len = input.size();
  static const char kPads[] = {'\0', ']', '}', '"'};
  char* body = static_cast<char*>(std::malloc(len + json::kPadding));
  std::memcpy(body, input.data(), len);
  std::memset(body + len, kPads[len % 4], json::kPadding);

  std::string_view why;
  const bool valid = f.reader.validate(body, len, kLimits, &why);
  FUZZ_CHECK(valid == f.reader.is_open());
  FUZZ_CHECK(valid || !why.empty());
  // Queries on a closed Reader answer kInvalid; on an open one, never.
  std::string_view none;
  FUZZ_CHECK(valid || f.reader.find(json::Path(), &none) == json::Status::kInvalid);
  // After a NUL the reader's grammar walk reads past the last token unbounded, after any other
  // byte bounded: the same body behind the other kind of padding gets the same verdict, for the
  // same reason.
  f.padded.assign(input.data(), len);
  f.padded.append(json::kPadding, kPads[len % 4] == '\0' ? '}' : '\0');
  std::string_view twin_why;
  FUZZ_CHECK(f.check.validate(f.padded.data(), len, kLimits, &twin_why) == valid);
  FUZZ_CHECK(twin_why == why);

  if (valid) {
    for (const json::Path& p : paths) {
      if (p.each_index() < 0) {
        std::string_view raw;
        const json::Status st = f.reader.find(p, &raw);
        FUZZ_CHECK(st == json::Status::kOk || st == json::Status::kAbsent);
        if (st == json::Status::kOk) {
          check_found(f, raw, body, len);
        }
      } else {
        size_t calls = 0;
        const json::Status st = f.reader.for_each(p, [&](std::string_view raw) {
          ++calls;
          check_found(f, raw, body, len);
          return calls < 100;
        });
        FUZZ_CHECK(st == json::Status::kOk || st == json::Status::kAbsent);
        FUZZ_CHECK(st == json::Status::kOk || calls == 0);
      }
    }

    json::ProjectionSpec spec;
    project(f, spec, body, len);
    size_t members = 0;
    const json::Status ms =
        f.reader.members(json::Projection(), [&](const json::Member&) { ++members; });
    FUZZ_CHECK(ms == json::Status::kOk || ms == json::Status::kNotObject);
    FUZZ_CHECK(ms == json::Status::kOk || members == 0);
    for (const std::string& t : texts) {
      spec = {};
      spec.pick = t;
      project(f, spec, body, len);
    }
    spec = {};
    for (size_t i = 0; i < texts.size(); ++i) {
      (i % 2 == 0 ? spec.allow : spec.deny).push_back(texts[i]);
    }
    project(f, spec, body, len);
    spec.allow.swap(spec.deny);
    project(f, spec, body, len);
    spec = {};
    spec.deny = texts;
    if (!texts.empty()) {
      spec.rename = {{texts[0], texts.back()}};
    }
    project(f, spec, body, len);
  }

  // The Writer with arbitrary bytes in keys and strings (they need not be UTF-8).
  f.out.clear();
  json::Writer w(f.out);
  w.begin_object();
  w.key(input);
  w.string(input);
  w.key("n");
  w.number(static_cast<int64_t>(len) - 1000);
  if (valid) {
    w.key("raw");
    w.raw(std::string_view(body, len));
  }
  w.end_object();
  FUZZ_CHECK(w.complete());
  check_valid(f, f.out);

  f.reader.close();
  std::free(body);
  return 0;
}
