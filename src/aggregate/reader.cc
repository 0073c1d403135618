// Reader: a body is indexed once by simdjson's stage 1 (its SIMD structural indexer: the offset
// of every structural character and of the first byte of every scalar, with string boundaries,
// control characters and UTF-8 checked on the way), then validated by one grammar walk over that
// index which also records, for each `{` and `[`, the token that closes it. Queries and
// projections walk the same index: they jump over the subtrees they do not need and copy raw
// byte ranges for the ones they keep.
//
// Why not simdjson On Demand for the walks (it was the first version): measured on the 3 x 7 KB
// bodies of bench/micro/splice_bench.cc, a full validating walk through On Demand's iterators
// cost ~19 us (~4 ns per token, twice a DOM parse), and projecting through it needed a second
// stage 1 per body plus a token-by-token skip of every dropped subtree: the merge came out at
// 1.7x a DOM parse + re-serialisation where the goal is 3x. The index comes from
// simdjson::implementation::create_dom_parser_implementation(), the call On Demand's own parser
// makes (whose index is private).
//
// Only simdjson's error-code APIs are used (this library is compiled with
// SIMDJSON_EXCEPTIONS=0).

#include <simdjson.h>

#include <cstdio>
#include <cstring>

#include "aggregate/text.h"
#include "ringgate/aggregate/json.h"

// The stage-1 interface used below (dom_parser_implementation's structural index) is internal to
// simdjson; it has been stable through major versions 1 to 3. Check it again on an upgrade.
static_assert(simdjson::SIMDJSON_VERSION_MAJOR == 3, "check the stage-1 index use in reader.cc");

namespace ringgate::json {

static_assert(kPadding == simdjson::SIMDJSON_PADDING, "kPadding must be simdjson's padding");

using detail::is_ws;
using simdjson::error_code;

namespace {

const char* error_name(error_code e) {
  switch (e) {
    case simdjson::SUCCESS:
      return "SUCCESS";
    case simdjson::CAPACITY:
      return "CAPACITY";
    case simdjson::MEMALLOC:
      return "MEMALLOC";
    case simdjson::TAPE_ERROR:
      return "TAPE_ERROR";
    case simdjson::DEPTH_ERROR:
      return "DEPTH_ERROR";
    case simdjson::STRING_ERROR:
      return "STRING_ERROR";
    case simdjson::UTF8_ERROR:
      return "UTF8_ERROR";
    case simdjson::EMPTY:
      return "EMPTY";
    case simdjson::UNESCAPED_CHARS:
      return "UNESCAPED_CHARS";
    case simdjson::UNCLOSED_STRING:
      return "UNCLOSED_STRING";
    case simdjson::UNSUPPORTED_ARCHITECTURE:
      return "UNSUPPORTED_ARCHITECTURE";
    default:
      return "error";
  }
}

// Why validation failed; turned into text only at the end.
enum class Fault : uint8_t {
  kNone,
  kSimdjson,    // stage 1 (or allocation) failed: code says which
  kEmpty,       // nothing but whitespace
  kDepth,       // nesting deeper than the limit
  kElements,    // an array longer than the limit
  kNumber,      // a token starting like a number that is not one
  kToken,       // a value is due and this token is none (a bare word, a stray `,` or `:`)
  kKey,         // a member name is due
  kColon,       // `:` is due
  kObjectNext,  // `,` or `}` is due
  kArrayNext,   // `,` or `]` is due
  kEscape,      // a bad escape or a lone surrogate in a string
  kTrailing,    // something after the value
  kTruncated,   // the body ends inside a value
};

enum class Act : uint8_t { kDrop, kSplice, kDescend };

constexpr uint32_t kNone = UINT32_MAX;

bool hex4(const char* p) {
  for (int i = 0; i < 4; ++i) {
    const char c = p[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

uint32_t hex4_value(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    const char c = p[i];
    v = v << 4 | static_cast<uint32_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  return v;
}

}  // namespace

struct Reader::Impl {
  std::unique_ptr<simdjson::internal::dom_parser_implementation> index;  // stage 1
  std::unique_ptr<uint32_t[]> closer;  // per token: for `{` and `[`, the token that closes it
  size_t closer_size = 0;
  const uint32_t* idx = nullptr;  // the open body's tokens: offsets into data
  uint32_t n = 0;
  const char* data = nullptr;
  size_t len = 0;
  const char* end = nullptr;  // data + len
  bool open = false;
  std::string_view root;             // the value, without surrounding whitespace
  std::string key_scratch;           // unescaped keys, for matching and Member::key
  std::string value_scratch;         // projected member values, for Member::value
  const Projection* proj = nullptr;  // during project() / members()

  // Validation state.
  uint32_t max_depth = 0;
  uint32_t max_elements = 0;
  Fault fault = Fault::kNone;
  error_code code = simdjson::SUCCESS;
  const char* where = nullptr;
  char why[128];
  bool is_array[kMaxDepthCap];       // per open container
  uint32_t elements[kMaxDepthCap];   // per open array
  uint32_t opened_at[kMaxDepthCap];  // per open container: its token

  // --- opening ---------------------------------------------------------------------------------

  void set_body(const char* d, size_t size) {
    open = false;
    data = d;
    len = size;
    end = d + size;
    root = detail::trim(d, d + size);
  }

  // --- validation ------------------------------------------------------------------------------

  bool fail(Fault f, const char* at) {
    fault = f;
    where = at;
    return false;
  }

  bool stage1() {
    error_code e = simdjson::SUCCESS;
    if (!index) {
      e = simdjson::get_active_implementation()->create_dom_parser_implementation(
          len, simdjson::DEFAULT_MAX_DEPTH, index);
    } else if (index->capacity() < len) {
      e = index->allocate(len, simdjson::DEFAULT_MAX_DEPTH);
    }
    if (e == simdjson::SUCCESS && closer_size < index->capacity() + 1) {
      // Never more tokens than bytes: sized with the index, grown with it.
      closer_size = index->capacity() + 1;
      closer.reset(new (std::nothrow) uint32_t[closer_size]);
      e = closer ? simdjson::SUCCESS : simdjson::MEMALLOC;
      closer_size = closer ? closer_size : 0;
    }
    if (e == simdjson::SUCCESS) {
      e = index->stage1(reinterpret_cast<const uint8_t*>(data), len,
                        simdjson::stage1_mode::regular);
    }
    if (e != simdjson::SUCCESS) {
      code = e;
      return fail(Fault::kSimdjson, nullptr);
    }
    // Entry n is the body's end (simdjson writes it too; the index has room for a few more):
    // the end of the last token, and the "token" that check_structure() finds past it.
    index->structural_indexes[index->n_structural_indexes] = static_cast<uint32_t>(len);
    idx = index->structural_indexes.get();
    n = index->n_structural_indexes;
    return true;
  }

  // A literal or a number from `p` to `e` (a token other than a string or a container): what is
  // wrong with it, or kNone.
  static Fault scalar_fault(const char* p, const char* e) {
    auto is = [&](std::string_view word) {
      return static_cast<size_t>(e - p) == word.size() &&
             std::memcmp(p, word.data(), word.size()) == 0;
    };
    switch (*p) {
      case 't':
        return is("true") ? Fault::kNone : Fault::kToken;
      case 'f':
        return is("false") ? Fault::kNone : Fault::kToken;
      case 'n':
        return is("null") ? Fault::kNone : Fault::kToken;
      case '-':
      case '0':
      case '1':
      case '2':
      case '3':
      case '4':
      case '5':
      case '6':
      case '7':
      case '8':
      case '9':
        return detail::is_number(p, e) ? Fault::kNone : Fault::kNumber;
      default:
        return Fault::kToken;
    }
  }

  // The grammar over the structural index: which token may follow which, depth and array sizes,
  // and the text of numbers and literals. Stage 1 has already checked strings (closing quotes,
  // control characters, UTF-8); their escapes are checked by check_escapes().
  //
  // Index entry n (one past the last token) is the body's end, so "token n" is the byte after
  // the body. When that byte is one no state accepts (a std::string's terminating NUL, as every
  // caller in the gateway passes), reading past the last token fails whatever check reads it:
  // the walk then needs no bound check per token (kEnded), and a failure past the last token is
  // reported as the body ending early. Any other byte there: every read is bounded.
  bool check_structure() {
    switch (data[len]) {
      case '"':
      case '{':
      case '[':
      case ',':
      case ':':
      case '}':
      case ']':
        return walk<false>();
      default:
        return walk<true>();
    }
  }

  template <bool kEnded>
  bool walk() {
    // Locals, not members: the stores into `closes` could alias them and force reloads.
    const char* const buf = data;
    const uint32_t* const tokens = idx;
    const uint32_t count = n;
    uint32_t* const closes = closer.get();
    const uint32_t depth_max = max_depth;
    const uint32_t elements_max = max_elements;
    uint32_t i = 0;
    uint32_t depth = 0;
    bool in_array = false;  // is_array[depth - 1], kept at hand
    auto at = [&](uint32_t j) { return buf[tokens[j]]; };
    auto readable = [&](uint32_t j) { return kEnded || j < count; };
    // A check failed at token j; past the last token, the body ended early.
    auto bad = [&](Fault f, uint32_t j) {
      return j >= count ? fail(Fault::kTruncated, end) : fail(f, buf + tokens[j]);
    };
    // Back in the container around the one just closed.
    auto closed = [&] {
      --depth;
      in_array = depth > 0 && is_array[depth - 1];
    };

  value:
    if (!readable(i)) {
      return fail(Fault::kTruncated, end);
    }
    switch (at(i)) {
      case '"':
        ++i;
        goto after_value;
      case '{':
        if (depth >= depth_max) {
          return fail(Fault::kDepth, buf + tokens[i]);
        }
        opened_at[depth] = i;
        is_array[depth++] = in_array = false;
        if (++i; readable(i) && at(i) == '}') {
          closes[i - 1] = i;
          ++i;
          closed();
          goto after_value;
        }
        goto member;
      case '[':
        if (depth >= depth_max) {
          return fail(Fault::kDepth, buf + tokens[i]);
        }
        opened_at[depth] = i;
        elements[depth] = 0;
        is_array[depth++] = in_array = true;
        if (++i; readable(i) && at(i) == ']') {
          closes[i - 1] = i;
          ++i;
          closed();
          goto after_value;
        }
        goto element;
      default: {
        if (i >= count) {
          return fail(Fault::kTruncated, end);
        }
        // The scalar ends where the next token (or the body) starts, less the whitespace.
        const char* p = buf + tokens[i];
        const char* e = buf + tokens[i + 1];
        while (is_ws(e[-1])) {
          --e;
        }
        if (const Fault f = scalar_fault(p, e); f != Fault::kNone) {
          return fail(f, p);
        }
        ++i;
        goto after_value;
      }
    }

  element:
    if (++elements[depth - 1] > elements_max) {
      return fail(Fault::kElements, i < count ? buf + tokens[i] : end);
    }
    goto value;

  member:
    if (!readable(i)) {
      return fail(Fault::kTruncated, end);
    }
    if (at(i) != '"') {
      return bad(Fault::kKey, i);
    }
    if (++i; !readable(i)) {
      return fail(Fault::kTruncated, end);
    }
    if (at(i) != ':') {
      return bad(Fault::kColon, i);
    }
    ++i;
    goto value;

  after_value:
    if (depth == 0) {
      if (i < count) {
        return fail(Fault::kTrailing, buf + tokens[i]);
      }
      return true;
    }
    if (!readable(i)) {
      return fail(Fault::kTruncated, end);
    }
    if (const char c = at(i); c == ',') {
      ++i;
      if (in_array) {
        goto element;
      }
      goto member;
    } else if (c != (in_array ? ']' : '}')) {
      return bad(in_array ? Fault::kArrayNext : Fault::kObjectNext, i);
    }
    closes[opened_at[depth - 1]] = i;
    ++i;
    closed();
    goto after_value;
  }

  // Every backslash of the body starts a valid escape, and \u escapes pair their surrogates. Once
  // the structure is valid, backslashes can only be inside strings, and walking from one to the
  // next in order reads each escape the way a string lexer does.
  bool check_escapes() {
    const char* p = data;
    while ((p = static_cast<const char*>(std::memchr(p, '\\', static_cast<size_t>(end - p)))) !=
           nullptr) {
      if (end - p < 2) {
        return fail(Fault::kEscape, p);
      }
      switch (p[1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
          p += 2;
          continue;
        case 'u':
          break;
        default:
          return fail(Fault::kEscape, p);
      }
      if (end - p < 6 || !hex4(p + 2)) {
        return fail(Fault::kEscape, p);
      }
      const uint32_t cp = hex4_value(p + 2);
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        // A high surrogate must be followed by an escaped low one; alone it has no UTF-8 form.
        if (end - p < 12 || p[6] != '\\' || p[7] != 'u' || !hex4(p + 8)) {
          return fail(Fault::kEscape, p);
        }
        const uint32_t low = hex4_value(p + 8);
        if (low < 0xDC00 || low > 0xDFFF) {
          return fail(Fault::kEscape, p);
        }
        p += 12;
      } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return fail(Fault::kEscape, p);
      } else {
        p += 6;
      }
    }
    return true;
  }

  bool check() {
    if (root.empty()) {
      return fail(Fault::kEmpty, nullptr);
    }
    return stage1() && check_structure() && check_escapes();
  }

  void describe() {
    const bool located = where != nullptr && where >= data && where <= end;
    const size_t off = located ? static_cast<size_t>(where - data) : len;
    const char* what = nullptr;
    switch (fault) {
      case Fault::kNone:
        std::snprintf(why, sizeof why, "valid");
        return;
      case Fault::kSimdjson:
        std::snprintf(why, sizeof why, "invalid JSON (%s)", error_name(code));
        return;
      case Fault::kEmpty:
        std::snprintf(why, sizeof why, "empty body");
        return;
      case Fault::kDepth:
        std::snprintf(why, sizeof why, "nesting deeper than %u levels", max_depth);
        return;
      case Fault::kElements:
        std::snprintf(why, sizeof why, "array longer than %u elements", max_elements);
        return;
      case Fault::kNumber:
        what = "bad number";
        break;
      case Fault::kToken:
        what = "expected a value";
        break;
      case Fault::kKey:
        what = "expected a member name";
        break;
      case Fault::kColon:
        what = "expected ':'";
        break;
      case Fault::kObjectNext:
        what = "expected ',' or '}'";
        break;
      case Fault::kArrayNext:
        what = "expected ',' or ']'";
        break;
      case Fault::kEscape:
        what = "bad string escape";
        break;
      case Fault::kTrailing:
        what = "content after the value";
        break;
      case Fault::kTruncated:
        what = "body ends early";
        break;
    }
    std::snprintf(why, sizeof why, "invalid JSON (%s) near byte %zu", what, off);
  }

  // --- walking the open body -------------------------------------------------------------------
  // A validated body has a well-formed index, so these read no further than its last token.

  const char* pos(uint32_t i) const { return data + idx[i]; }
  char at(uint32_t i) const { return data[idx[i]]; }
  static bool container(char c) { return c == '{' || c == '['; }

  // The end of scalar token i, whitespace after it removed.
  const char* scalar_end(uint32_t i) const {
    const char* e = i + 1 < n ? pos(i + 1) : end;
    while (is_ws(e[-1])) {
      --e;
    }
    return e;
  }

  // The token after the value that starts at token i.
  uint32_t after(uint32_t i) const { return container(at(i)) ? closer[i] + 1 : i + 1; }

  // The exact text of the value at token i.
  std::string_view text(uint32_t i) const {
    const char* b = pos(i);
    const char* e = container(*b) ? pos(closer[i]) + 1 : scalar_end(i);
    return std::string_view(b, static_cast<size_t>(e - b));
  }

  // The escaped content of key token k, between its quotes.
  std::string_view key_text(uint32_t k) const {
    const char* b = pos(k) + 1;
    return std::string_view(b, static_cast<size_t>(scalar_end(k) - 1 - b));
  }

  // f(key token, value token) for each member of the object at token i; f returns false to stop.
  template <typename F>
  void each_member(uint32_t i, F&& f) const {
    uint32_t k = i + 1;
    if (at(k) == '}') {
      return;
    }
    for (;;) {
      const uint32_t v = k + 2;  // past the key and the colon
      if (!f(k, v)) {
        return;
      }
      const uint32_t next = after(v);
      if (at(next) != ',') {
        return;
      }
      k = next + 1;
    }
  }

  // f(value token) for each element of the array at token i; f returns false to stop.
  template <typename F>
  void each_element(uint32_t i, F&& f) const {
    uint32_t v = i + 1;
    if (at(v) == ']') {
      return;
    }
    for (;;) {
      if (!f(v)) {
        return;
      }
      const uint32_t next = after(v);
      if (at(next) != ',') {
        return;
      }
      v = next + 1;
    }
  }

  // The unescaped key: `raw` itself when it has no escape, else key_scratch.
  std::string_view unescaped(std::string_view raw) {
    if (std::memchr(raw.data(), '\\', raw.size()) == nullptr) {
      return raw;
    }
    key_scratch.clear();
    if (!detail::unescape(raw.data(), raw.data() + raw.size(), &key_scratch)) {
      key_scratch.clear();
    }
    return key_scratch;
  }

  bool key_is(std::string_view raw, std::string_view name) {
    const bool escaped = std::memchr(raw.data(), '\\', raw.size()) != nullptr;
    if (!escaped) {
      return raw == name;
    }
    return unescaped(raw) == name;
  }

  // The token of the value at [s, e) from token i, or kNone.
  uint32_t locate(uint32_t i, const Path::Segment* s, const Path::Segment* e) {
    for (; s != e; ++s) {
      uint32_t found = kNone;
      if (s->kind == Path::Kind::kMember && at(i) == '{') {
        each_member(i, [&](uint32_t k, uint32_t v) {
          if (key_is(key_text(k), s->name)) {
            found = v;
            return false;
          }
          return true;
        });
      } else if (s->kind == Path::Kind::kIndex && at(i) == '[') {
        uint32_t j = 0;
        each_element(i, [&](uint32_t v) {
          if (j++ == s->index) {
            found = v;
            return false;
          }
          return true;
        });
      }
      if (found == kNone) {
        return kNone;
      }
      i = found;
    }
    return i;
  }

  // --- projection ------------------------------------------------------------------------------

  const Projection::Node* member_child(const Projection::Node* node, std::string_view raw) {
    if (node == nullptr) {
      return nullptr;
    }
    for (const uint32_t m : node->members) {
      const Projection::Node& c = proj->nodes_[m];
      if (key_is(raw, c.name)) {
        return &c;
      }
    }
    return nullptr;
  }

  const Projection::Node* each_child(const Projection::Node* node) const {
    return node != nullptr && node->each >= 0 ? &proj->nodes_[static_cast<size_t>(node->each)]
                                              : nullptr;
  }

  const Projection::Rename* rename_for(std::string_view raw) {
    for (const Projection::Rename& r : proj->renames_) {
      if (key_is(raw, r.from)) {
        return &r;
      }
    }
    return nullptr;
  }

  // The renames whose source member is in the object at token i, one bit each (by position).
  uint64_t renames_present(uint32_t i) {
    uint64_t present = 0;
    each_member(i, [&](uint32_t k, uint32_t) {
      const std::string_view key = key_text(k);
      for (size_t r = 0; r < proj->renames_.size(); ++r) {
        if (key_is(key, proj->renames_[r].from)) {
          present |= uint64_t{1} << r;
        }
      }
      return true;
    });
    return present;
  }

  // A member not renamed whose name a present rename gives another: the renamed one takes its
  // place, so no name appears twice (`rename: {name: title}` on {"name": .., "title": ..}).
  bool displaced(std::string_view key, uint64_t present) {
    for (size_t r = 0; r < proj->renames_.size(); ++r) {  // at most 64 (Projection::compile)
      if ((present >> r & 1) != 0 && key_is(key, proj->renames_[r].to)) {
        return true;
      }
    }
    return false;
  }

  // What happens to a member or element whose trie node is `child` (null: no path mentions it),
  // given whether an allow list still filters here; `c` is its value's first character.
  static Act decide(const Projection::Node* child, bool filter, char c, bool* child_filter) {
    *child_filter = false;
    if (child != nullptr && child->deny) {
      return Act::kDrop;
    }
    if (filter) {
      if (child == nullptr) {
        return Act::kDrop;
      }
      if (child->allow) {
        // Kept whole, unless a deny path reaches into it.
        const bool inside = (c == '{' && child->deny_members) || (c == '[' && child->deny_each);
        return inside ? Act::kDescend : Act::kSplice;
      }
      const bool fits = (c == '{' && child->allow_members) || (c == '[' && child->allow_each);
      *child_filter = true;
      return fits ? Act::kDescend : Act::kDrop;
    }
    if (child == nullptr) {
      return Act::kSplice;
    }
    const bool inside = (c == '{' && child->deny_members) || (c == '[' && child->deny_each);
    return inside ? Act::kDescend : Act::kSplice;
  }

  // The container at token i, projected by `node`. `top`: the result's top level, where renames
  // apply.
  void write_container(uint32_t i, const Projection::Node* node, bool filter, bool top, Writer& w) {
    if (at(i) == '{') {
      write_object(i, node, filter, top, w);
    } else {
      write_array(i, node, filter, w);
    }
  }

  void write_object(uint32_t i, const Projection::Node* node, bool filter, bool top, Writer& w) {
    const uint64_t present = top && !proj->renames_.empty() ? renames_present(i) : 0;
    w.begin_object();
    each_member(i, [&](uint32_t k, uint32_t v) {
      const std::string_view key = key_text(k);
      bool child_filter;
      const Projection::Node* child = member_child(node, key);
      const Act act = decide(child, filter, at(v), &child_filter);
      if (act == Act::kDrop) {
        return true;
      }
      const Projection::Rename* rename = top ? rename_for(key) : nullptr;
      if (rename == nullptr && present != 0 && displaced(key, present)) {
        return true;
      }
      if (act == Act::kSplice) {
        const std::string_view value = text(v);
        if (rename != nullptr) {
          w.raw_key(rename->to_escaped);
          w.raw(value);
        } else {
          // `"key" : value` exactly as in the body: one copy.
          const char* b = pos(k);
          w.raw_member(std::string_view(b, static_cast<size_t>(value.data() + value.size() - b)));
        }
        return true;
      }
      w.raw_key(rename != nullptr ? std::string_view(rename->to_escaped) : key);
      write_container(v, child, child_filter, false, w);
      return true;
    });
    w.end_object();
  }

  void write_array(uint32_t i, const Projection::Node* node, bool filter, Writer& w) {
    w.begin_array();
    const Projection::Node* child = each_child(node);
    if ((child == nullptr && filter) || (child != nullptr && child->deny)) {
      w.end_array();  // no allow path goes into these elements, or a deny path removes them all
      return;
    }
    each_element(i, [&](uint32_t v) {
      bool child_filter;
      const Act act = decide(child, filter, at(v), &child_filter);
      if (act == Act::kSplice) {
        w.raw(text(v));
      } else if (act == Act::kDescend) {
        write_container(v, child, child_filter, false, w);
      }
      return true;
    });
    w.end_array();
  }

  // The projection of the value at token v, which is the body's root or a picked value.
  Status write_projected(uint32_t v, Writer& w) {
    const char c = at(v);
    const Projection::Node& r = proj->nodes_[0];
    if (proj->filter_ && !((c == '{' && r.allow_members) || (c == '[' && r.allow_each))) {
      return Status::kAbsent;  // the root does not have the type every allow path needs
    }
    const bool walk =
        (c == '{' && (r.allow_members || r.deny_members || !proj->renames_.empty())) ||
        (c == '[' && (r.allow_each || r.deny_each));
    if (walk) {
      write_container(v, &r, proj->filter_, true, w);
    } else {
      w.raw(text(v));
    }
    return Status::kOk;
  }

  // The value a projection starts from: the picked value or the root; kNone when a pick is absent.
  uint32_t start(const Projection& p) {
    if (!p.pick_) {
      return 0;
    }
    const auto& segs = p.pick_->segments();
    return locate(0, segs.data(), segs.data() + segs.size());
  }

  // --- members ---------------------------------------------------------------------------------

  Status member_loop(uint32_t i, MemberFn fn, void* ctx) {
    const Projection::Node* node = &proj->nodes_[0];
    const bool filter = proj->filter_;
    const uint64_t present = proj->renames_.empty() ? 0 : renames_present(i);
    each_member(i, [&](uint32_t k, uint32_t v) {
      const std::string_view key = key_text(k);
      bool child_filter;
      const Projection::Node* child = member_child(node, key);
      const Act act = decide(child, filter, at(v), &child_filter);
      if (act == Act::kDrop) {
        return true;
      }
      // (The rename lives in the projection, not in key_scratch: the value below cannot move it.)
      const Projection::Rename* rename = rename_for(key);
      if (rename == nullptr && present != 0 && displaced(key, present)) {
        return true;
      }
      Member m;
      if (act == Act::kSplice) {
        m.value = text(v);
      } else {
        value_scratch.clear();
        Writer sw(value_scratch);
        write_container(v, child, child_filter, false, sw);
        m.value = value_scratch;
      }
      // Keys last: matching keys inside the value above reuses key_scratch.
      if (rename != nullptr) {
        m.key = rename->to;
        m.raw_key = rename->to_escaped;
      } else {
        m.key = unescaped(key);
        m.raw_key = key;
      }
      return fn(ctx, m);
    });
    return Status::kOk;
  }
};

Reader::Reader() : impl_(std::make_unique<Impl>()) {}

Reader::~Reader() = default;

bool Reader::validate(const char* data, size_t len, const Limits& limits, std::string_view* why) {
  Impl& m = *impl_;
  m.fault = Fault::kNone;
  m.where = nullptr;
  m.max_depth = limits.max_depth < kMaxDepthCap ? limits.max_depth : kMaxDepthCap;
  m.max_elements = limits.max_array_elements;
  m.set_body(data, len);
  m.open = m.check();
  if (!m.open && why != nullptr) {
    m.describe();
    *why = m.why;
  }
  return m.open;
}

void Reader::close() {
  impl_->open = false;
}

bool Reader::is_open() const {
  return impl_->open;
}

size_t Reader::capacity() const {
  return impl_->index ? impl_->index->capacity() : 0;
}

Status Reader::find(const Path& path, std::string_view* raw) {
  Impl& m = *impl_;
  *raw = {};
  if (!m.open) {
    return Status::kInvalid;
  }
  if (path.each_index() >= 0) {
    return Status::kAbsent;
  }
  const auto& segs = path.segments();
  const uint32_t v = m.locate(0, segs.data(), segs.data() + segs.size());
  if (v == kNone) {
    return Status::kAbsent;
  }
  *raw = m.text(v);
  return Status::kOk;
}

Status Reader::for_each_impl(const Path& path, ElementFn fn, void* ctx) {
  Impl& m = *impl_;
  if (!m.open) {
    return Status::kInvalid;
  }
  if (path.each_index() < 0) {
    return Status::kAbsent;
  }
  const auto& segs = path.segments();
  const Path::Segment* each = segs.data() + path.each_index();
  const uint32_t a = m.locate(0, segs.data(), each);
  if (a == kNone || m.at(a) != '[') {
    return Status::kAbsent;
  }
  m.each_element(a, [&](uint32_t v) {
    const uint32_t x = m.locate(v, each + 1, segs.data() + segs.size());
    return x == kNone || fn(ctx, m.text(x));
  });
  return Status::kOk;
}

Status Reader::project(const Projection& projection, Writer& out) {
  Impl& m = *impl_;
  if (!m.open) {
    return Status::kInvalid;
  }
  if (projection.is_identity()) {
    out.raw(m.root);
    return Status::kOk;
  }
  const uint32_t v = m.start(projection);
  if (v == kNone) {
    return Status::kAbsent;
  }
  m.proj = &projection;
  const Status st = m.write_projected(v, out);
  m.proj = nullptr;
  return st;
}

Status Reader::members_impl(const Projection& projection, MemberFn fn, void* ctx) {
  Impl& m = *impl_;
  if (!m.open) {
    return Status::kInvalid;
  }
  const uint32_t v = m.start(projection);
  if (v == kNone) {
    return Status::kAbsent;
  }
  const Projection::Node& r = projection.nodes_[0];
  const char c = m.at(v);
  if (projection.filter_ && !((c == '{' && r.allow_members) || (c == '[' && r.allow_each))) {
    return Status::kAbsent;  // as project(): the root does not fit the allow paths
  }
  if (c != '{') {
    return Status::kNotObject;
  }
  m.proj = &projection;
  const Status st = m.member_loop(v, fn, ctx);
  m.proj = nullptr;
  return st;
}

}  // namespace ringgate::json
