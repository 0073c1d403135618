// Reader: simdjson On Demand walks over one open body. Validation is one full walk that checks
// what the On Demand iterators leave unchecked (scalars, string escapes, depth, array sizes);
// queries and projections then rewind the same index and touch only what they need, taking raw
// byte ranges for everything they copy.
//
// Only simdjson's error-code APIs are used (this library is compiled with
// SIMDJSON_EXCEPTIONS=0).

#include <simdjson.h>

#include <cstdio>
#include <cstring>

#include "aggregate/text.h"
#include "ringgate/aggregate/json.h"

namespace ringgate::json {

static_assert(kPadding == simdjson::SIMDJSON_PADDING, "kPadding must be simdjson's padding");

namespace od = simdjson::ondemand;
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
    case simdjson::T_ATOM_ERROR:
      return "T_ATOM_ERROR";
    case simdjson::F_ATOM_ERROR:
      return "F_ATOM_ERROR";
    case simdjson::N_ATOM_ERROR:
      return "N_ATOM_ERROR";
    case simdjson::NUMBER_ERROR:
      return "NUMBER_ERROR";
    case simdjson::UTF8_ERROR:
      return "UTF8_ERROR";
    case simdjson::EMPTY:
      return "EMPTY";
    case simdjson::UNESCAPED_CHARS:
      return "UNESCAPED_CHARS";
    case simdjson::UNCLOSED_STRING:
      return "UNCLOSED_STRING";
    case simdjson::INCORRECT_TYPE:
      return "INCORRECT_TYPE";
    case simdjson::INCOMPLETE_ARRAY_OR_OBJECT:
      return "INCOMPLETE_ARRAY_OR_OBJECT";
    case simdjson::OUT_OF_BOUNDS:
      return "OUT_OF_BOUNDS";
    case simdjson::TRAILING_CONTENT:
      return "TRAILING_CONTENT";
    default:
      return "error";
  }
}

// Why validation failed; turned into text only at the end.
enum class Fault : uint8_t {
  kNone,
  kSimdjson,   // code says which; where is set when simdjson knows it
  kEmpty,      // nothing but whitespace
  kDepth,      // nesting deeper than the limit
  kElements,   // an array longer than the limit
  kNumber,     // a token starting like a number that is not one
  kToken,      // a token that is no JSON value (a bare word, a stray `,`)
  kEscape,     // a bad escape or a lone surrogate in a string
  kTrailing,   // something after the value
  kTruncated,  // the body ends where a value is due
};

enum class Act : uint8_t { kDrop, kSplice, kDescend };

}  // namespace

struct Reader::Impl {
  od::parser parser;
  od::document doc;
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

  // --- opening ---------------------------------------------------------------------------------

  bool index(const char* d, size_t n) {
    open = false;
    data = d;
    len = n;
    end = d + n;
    root = detail::trim(d, d + n);
    if (root.empty()) {
      fault = Fault::kEmpty;
      return false;
    }
    const error_code e = parser.iterate(d, n, n + kPadding).get(doc);
    if (e != simdjson::SUCCESS) {
      fail(e, nullptr);
      return false;
    }
    return true;
  }

  // Back to the root of the open body for another walk.
  bool restart() {
    if (!open) {
      return false;
    }
    if (doc.is_alive()) {
      doc.rewind();
      return true;
    }
    // A walk abandoned the iterator (only possible for a body that was not validated).
    if (parser.iterate(data, len, len + kPadding).get(doc) != simdjson::SUCCESS) {
      open = false;
      return false;
    }
    return true;
  }

  // --- validation ------------------------------------------------------------------------------

  bool fail(error_code e, const char* at) {
    fault = Fault::kSimdjson;
    code = e;
    where = at;
    return false;
  }
  bool fail(Fault f, const char* at) {
    fault = f;
    where = at;
    return false;
  }
  // The location simdjson's iterator stopped at, for its errors.
  bool fail_here(error_code e) {
    const char* at = nullptr;
    if (doc.current_location().get(at) != simdjson::SUCCESS) {
      at = nullptr;
    }
    return fail(e, at);
  }

  // A scalar token: the exact text, whitespace after it removed. `tok` may reach past the body
  // into the padding when the structure is broken; it is cut at the end of the body.
  bool check_scalar(std::string_view tok) {
    const char* p = tok.data();
    if (p >= end) {
      return fail(Fault::kTruncated, end);
    }
    const char* stop = p + tok.size() < end ? p + tok.size() : end;
    while (stop > p && is_ws(stop[-1])) {
      --stop;
    }
    switch (*p) {
      case '"':
        // simdjson's index found the closing quote and checked control characters and UTF-8.
        if (stop - p < 2 || stop[-1] != '"' || !detail::check_escapes(p + 1, stop - 1)) {
          return fail(Fault::kEscape, p);
        }
        return true;
      case 't':
        return (stop - p == 4 && std::memcmp(p, "true", 4) == 0) || fail(Fault::kToken, p);
      case 'f':
        return (stop - p == 5 && std::memcmp(p, "false", 5) == 0) || fail(Fault::kToken, p);
      case 'n':
        return (stop - p == 4 && std::memcmp(p, "null", 4) == 0) || fail(Fault::kToken, p);
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
        return detail::is_number(p, stop) || fail(Fault::kNumber, p);
      default:
        return fail(Fault::kToken, p);
    }
  }

  bool check_value(od::value& v, uint32_t depth) {
    const std::string_view tok = v.raw_json_token();
    if (tok.data() >= end) {
      return fail(Fault::kTruncated, end);
    }
    switch (tok[0]) {
      case '{': {
        if (depth >= max_depth) {
          return fail(Fault::kDepth, tok.data());
        }
        od::object o;
        if (const error_code e = v.get_object().get(o)) {
          return fail_here(e);
        }
        return check_object(o, depth + 1);
      }
      case '[': {
        if (depth >= max_depth) {
          return fail(Fault::kDepth, tok.data());
        }
        od::array a;
        if (const error_code e = v.get_array().get(a)) {
          return fail_here(e);
        }
        return check_array(a, depth + 1);
      }
      default:
        return check_scalar(tok);
    }
  }

  bool check_object(od::object& o, uint32_t depth) {
    for (auto result : o) {
      od::field f;
      if (const error_code e = std::move(result).get(f)) {
        return fail_here(e);
      }
      std::string_view key;
      if (!raw_key(f, &key)) {
        return fail_here(simdjson::TAPE_ERROR);
      }
      if (!detail::check_escapes(key.data(), key.data() + key.size())) {
        return fail(Fault::kEscape, key.data() - 1);
      }
      if (!check_value(f.value(), depth)) {
        return false;
      }
    }
    return true;
  }

  bool check_array(od::array& a, uint32_t depth) {
    uint32_t count = 0;
    for (auto result : a) {
      od::value v;
      if (const error_code e = std::move(result).get(v)) {
        return fail_here(e);
      }
      if (++count > max_elements) {
        return fail(Fault::kElements, v.raw_json_token().data());
      }
      if (!check_value(v, depth)) {
        return false;
      }
    }
    return true;
  }

  bool check_document() {
    const char c = root[0];
    if (c != '{' && c != '[') {
      // A scalar document: its one token, then nothing but whitespace.
      std::string_view tok;
      if (const error_code e = doc.raw_json_token().get(tok)) {
        return fail(e, root.data());
      }
      if (!check_scalar(tok)) {
        return false;
      }
      const char* after = tok.data() + tok.size() < end ? tok.data() + tok.size() : end;
      const std::string_view rest = detail::trim(after, end);
      if (!rest.empty()) {
        return fail(Fault::kTrailing, rest.data());
      }
      return true;
    }
    if (max_depth == 0) {
      return fail(Fault::kDepth, root.data());
    }
    // Containers at the root are started through the document, whose root checks also guard
    // against walking into the padding of an unbalanced body.
    if (c == '{') {
      od::object o;
      if (const error_code e = doc.get_object().get(o)) {
        return fail_here(e);
      }
      if (!check_object(o, 1)) {
        return false;
      }
    } else {
      od::array a;
      if (const error_code e = doc.get_array().get(a)) {
        return fail_here(e);
      }
      if (!check_array(a, 1)) {
        return false;
      }
    }
    const char* at = nullptr;
    const error_code e = doc.current_location().get(at);
    if (e == simdjson::OUT_OF_BOUNDS) {
      return true;  // the iterator is at the end of the index: nothing follows
    }
    return fail(Fault::kTrailing, e == simdjson::SUCCESS ? at : nullptr);
  }

  void describe() {
    const size_t off =
        where != nullptr && where >= data && where <= end ? static_cast<size_t>(where - data) : len;
    const bool located = where != nullptr && where >= data && where <= end;
    switch (fault) {
      case Fault::kNone:
        std::snprintf(why, sizeof why, "valid");
        break;
      case Fault::kSimdjson:
        if (located) {
          std::snprintf(why, sizeof why, "invalid JSON (%s) near byte %zu", error_name(code), off);
        } else {
          std::snprintf(why, sizeof why, "invalid JSON (%s)", error_name(code));
        }
        break;
      case Fault::kEmpty:
        std::snprintf(why, sizeof why, "empty body");
        break;
      case Fault::kDepth:
        std::snprintf(why, sizeof why, "nesting deeper than %u levels", max_depth);
        break;
      case Fault::kElements:
        std::snprintf(why, sizeof why, "array longer than %u elements", max_elements);
        break;
      case Fault::kNumber:
        std::snprintf(why, sizeof why, "invalid JSON (bad number) near byte %zu", off);
        break;
      case Fault::kToken:
        std::snprintf(why, sizeof why, "invalid JSON (unexpected token) near byte %zu", off);
        break;
      case Fault::kEscape:
        std::snprintf(why, sizeof why, "invalid JSON (bad string escape) near byte %zu", off);
        break;
      case Fault::kTrailing:
        std::snprintf(why, sizeof why, "invalid JSON (content after the value) near byte %zu", off);
        break;
      case Fault::kTruncated:
        std::snprintf(why, sizeof why, "invalid JSON (body ends early) near byte %zu", off);
        break;
    }
  }

  // --- walking helpers -------------------------------------------------------------------------

  // The escaped content of a field's key (between its quotes). The key's end is found from the
  // value's start, going back over `:` and whitespace; simdjson does not report it.
  static bool raw_key(od::field& f, std::string_view* out) {
    const char* begin = f.key().raw();
    const char* p = f.value().raw_json_token().data() - 1;
    while (p > begin && is_ws(*p)) {
      --p;
    }
    if (p <= begin || *p != ':') {
      return false;
    }
    --p;
    while (p > begin && is_ws(*p)) {
      --p;
    }
    if (p < begin || *p != '"') {
      return false;
    }
    *out = std::string_view(begin, static_cast<size_t>(p - begin));
    return true;
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
    if (raw.size() == name.size() && std::memcmp(raw.data(), name.data(), raw.size()) == 0 &&
        std::memchr(raw.data(), '\\', raw.size()) == nullptr) {
      return true;
    }
    if (std::memchr(raw.data(), '\\', raw.size()) == nullptr) {
      return false;
    }
    return unescaped(raw) == name;
  }

  char first(od::value& v) {
    const std::string_view tok = v.raw_json_token();
    return tok.data() < end ? tok[0] : '\0';
  }

  // The exact text of a value (consumes it).
  Status raw_of(od::value& v, std::string_view* raw) {
    const std::string_view tok = v.raw_json_token();
    if (tok.data() >= end) {
      return Status::kInvalid;
    }
    std::string_view text;
    if (tok[0] == '{') {
      od::object o;
      if (v.get_object().get(o) != simdjson::SUCCESS || o.raw_json().get(text)) {
        return Status::kInvalid;
      }
    } else if (tok[0] == '[') {
      od::array a;
      if (v.get_array().get(a) != simdjson::SUCCESS || a.raw_json().get(text)) {
        return Status::kInvalid;
      }
    } else {
      text = tok;
    }
    const char* stop = text.data() + text.size() < end ? text.data() + text.size() : end;
    *raw = detail::trim(text.data(), stop);
    return raw->empty() ? Status::kInvalid : Status::kOk;
  }

  // Walks from `v` along [s, e) and calls k(value&) on the value found there.
  template <typename K>
  Status descend(od::value& v, const Path::Segment* s, const Path::Segment* e, K& k) {
    if (s == e) {
      return k(v);
    }
    const char c = first(v);
    if (s->kind == Path::Kind::kMember && c == '{') {
      od::object o;
      if (v.get_object().get(o) != simdjson::SUCCESS) {
        return Status::kInvalid;
      }
      return descend_object(o, s, e, k);
    }
    if (s->kind == Path::Kind::kIndex && c == '[') {
      od::array a;
      if (v.get_array().get(a) != simdjson::SUCCESS) {
        return Status::kInvalid;
      }
      return descend_array(a, s, e, k);
    }
    return Status::kAbsent;
  }

  template <typename K>
  Status descend_object(od::object& o, const Path::Segment* s, const Path::Segment* e, K& k) {
    if (s->kind != Path::Kind::kMember) {
      return Status::kAbsent;
    }
    for (auto result : o) {
      od::field f;
      std::string_view key;
      if (std::move(result).get(f) != simdjson::SUCCESS || !raw_key(f, &key)) {
        return Status::kInvalid;
      }
      if (key_is(key, s->name)) {
        return descend(f.value(), s + 1, e, k);
      }
    }
    return Status::kAbsent;
  }

  template <typename K>
  Status descend_array(od::array& a, const Path::Segment* s, const Path::Segment* e, K& k) {
    if (s->kind != Path::Kind::kIndex) {
      return Status::kAbsent;
    }
    uint32_t i = 0;
    for (auto result : a) {
      od::value v;
      if (std::move(result).get(v) != simdjson::SUCCESS) {
        return Status::kInvalid;
      }
      if (i == s->index) {
        return descend(v, s + 1, e, k);
      }
      ++i;
    }
    return Status::kAbsent;
  }

  // From the root along [s, e), s != e.
  template <typename K>
  Status descend_root(const Path::Segment* s, const Path::Segment* e, K& k) {
    if (root[0] == '{') {
      od::object o;
      if (doc.get_object().get(o) != simdjson::SUCCESS) {
        return Status::kInvalid;
      }
      return descend_object(o, s, e, k);
    }
    if (root[0] == '[') {
      od::array a;
      if (doc.get_array().get(a) != simdjson::SUCCESS) {
        return Status::kInvalid;
      }
      return descend_array(a, s, e, k);
    }
    return Status::kAbsent;
  }

  // --- projection ------------------------------------------------------------------------------

  const Projection::Node* member_child(const Projection::Node* n, std::string_view raw) {
    if (n == nullptr) {
      return nullptr;
    }
    for (const uint32_t m : n->members) {
      const Projection::Node& c = proj->nodes_[m];
      if (key_is(raw, c.name)) {
        return &c;
      }
    }
    return nullptr;
  }

  const Projection::Node* each_child(const Projection::Node* n) {
    return n != nullptr && n->each >= 0 ? &proj->nodes_[static_cast<size_t>(n->each)] : nullptr;
  }

  const Projection::Rename* rename_for(std::string_view raw) {
    for (const Projection::Rename& r : proj->renames_) {
      if (key_is(raw, r.from)) {
        return &r;
      }
    }
    return nullptr;
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

  Status write_value(od::value& v, const Projection::Node* n, bool filter, Writer& w) {
    if (first(v) == '{') {
      od::object o;
      if (v.get_object().get(o) != simdjson::SUCCESS) {
        return Status::kInvalid;
      }
      return write_object(o, n, filter, false, w);
    }
    od::array a;
    if (v.get_array().get(a) != simdjson::SUCCESS) {
      return Status::kInvalid;
    }
    return write_array(a, n, filter, w);
  }

  // `top`: the result's top level, where renames apply.
  Status write_object(od::object& o, const Projection::Node* n, bool filter, bool top, Writer& w) {
    w.begin_object();
    for (auto result : o) {
      od::field f;
      std::string_view key;
      if (std::move(result).get(f) != simdjson::SUCCESS || !raw_key(f, &key)) {
        return Status::kInvalid;
      }
      od::value& v = f.value();
      bool child_filter;
      const Projection::Node* child = member_child(n, key);
      const Act act = decide(child, filter, first(v), &child_filter);
      if (act == Act::kDrop) {
        continue;
      }
      const Projection::Rename* rename = top ? rename_for(key) : nullptr;
      if (act == Act::kSplice) {
        std::string_view raw;
        if (const Status st = raw_of(v, &raw); st != Status::kOk) {
          return st;
        }
        if (rename != nullptr) {
          w.raw_key(rename->to_escaped);
          w.raw(raw);
        } else {
          // `"key" : value` exactly as in the body: one copy.
          const char* begin = key.data() - 1;
          w.raw_member(std::string_view(begin, static_cast<size_t>(raw.end() - begin)));
        }
        continue;
      }
      w.raw_key(rename != nullptr ? std::string_view(rename->to_escaped) : key);
      if (const Status st = write_value(v, child, child_filter, w); st != Status::kOk) {
        return st;
      }
    }
    w.end_object();
    return Status::kOk;
  }

  Status write_array(od::array& a, const Projection::Node* n, bool filter, Writer& w) {
    w.begin_array();
    const Projection::Node* child = each_child(n);
    if (child == nullptr && filter) {
      w.end_array();  // no allow path goes into these elements
      return Status::kOk;
    }
    if (child != nullptr && child->deny) {
      w.end_array();
      return Status::kOk;
    }
    for (auto result : a) {
      od::value v;
      if (std::move(result).get(v) != simdjson::SUCCESS) {
        return Status::kInvalid;
      }
      bool child_filter;
      const Act act = decide(child, filter, first(v), &child_filter);
      if (act == Act::kDrop) {
        continue;
      }
      if (act == Act::kSplice) {
        std::string_view raw;
        if (const Status st = raw_of(v, &raw); st != Status::kOk) {
          return st;
        }
        w.raw(raw);
        continue;
      }
      if (const Status st = write_value(v, child, child_filter, w); st != Status::kOk) {
        return st;
      }
    }
    w.end_array();
    return Status::kOk;
  }

  // Whether the root node accepts a root of this kind (allow paths need a certain type).
  bool root_fits(char c) const {
    const Projection::Node& r = proj->nodes_[0];
    if (!proj->filter_) {
      return true;
    }
    return (c == '{' && r.allow_members) || (c == '[' && r.allow_each);
  }

  // The projected root (or picked value) `v` into w. Not for a pick of the document.
  Status write_projected(od::value& v, Writer& w) {
    const char c = first(v);
    const Projection::Node& r = proj->nodes_[0];
    const bool walk =
        (c == '{' && (r.deny_members || r.allow_members || !proj->renames_.empty())) ||
        (c == '[' && (r.each >= 0));
    if (!root_fits(c)) {
      return Status::kAbsent;
    }
    if (!walk) {
      std::string_view raw;
      if (const Status st = raw_of(v, &raw); st != Status::kOk) {
        return st;
      }
      w.raw(raw);
      return Status::kOk;
    }
    if (c == '{') {
      od::object o;
      if (v.get_object().get(o) != simdjson::SUCCESS) {
        return Status::kInvalid;
      }
      return write_object(o, &r, proj->filter_, true, w);
    }
    od::array a;
    if (v.get_array().get(a) != simdjson::SUCCESS) {
      return Status::kInvalid;
    }
    return write_array(a, &r, proj->filter_, w);
  }

  Status project_root(Writer& w) {
    const char c = root[0];
    const Projection::Node& r = proj->nodes_[0];
    if (!root_fits(c)) {
      return Status::kAbsent;
    }
    const bool walk =
        (c == '{' && (r.deny_members || r.allow_members || !proj->renames_.empty())) ||
        (c == '[' && (r.each >= 0));
    if (!walk) {
      w.raw(root);
      return Status::kOk;
    }
    if (c == '{') {
      od::object o;
      if (doc.get_object().get(o) != simdjson::SUCCESS) {
        return Status::kInvalid;
      }
      return write_object(o, &r, proj->filter_, true, w);
    }
    od::array a;
    if (doc.get_array().get(a) != simdjson::SUCCESS) {
      return Status::kInvalid;
    }
    return write_array(a, &r, proj->filter_, w);
  }

  // --- members ---------------------------------------------------------------------------------

  Status member_loop(od::object& o, MemberFn fn, void* ctx) {
    const Projection::Node* n = &proj->nodes_[0];
    const bool filter = proj->filter_;
    for (auto result : o) {
      od::field f;
      std::string_view key;
      if (std::move(result).get(f) != simdjson::SUCCESS || !raw_key(f, &key)) {
        return Status::kInvalid;
      }
      od::value& v = f.value();
      bool child_filter;
      const Projection::Node* child = member_child(n, key);
      const Act act = decide(child, filter, first(v), &child_filter);
      if (act == Act::kDrop) {
        continue;
      }
      Member m;
      if (act == Act::kSplice) {
        if (const Status st = raw_of(v, &m.value); st != Status::kOk) {
          return st;
        }
      } else {
        value_scratch.clear();
        Writer sw(value_scratch);
        if (const Status st = write_value(v, child, child_filter, sw); st != Status::kOk) {
          return st;
        }
        if (!sw.complete()) {
          return Status::kInvalid;
        }
        m.value = value_scratch;
      }
      // Keys last: matching keys inside the value above reuses key_scratch.
      if (const Projection::Rename* rename = rename_for(key)) {
        m.key = rename->to;
        m.raw_key = rename->to_escaped;
      } else {
        m.key = unescaped(key);
        m.raw_key = key;
      }
      if (!fn(ctx, m)) {
        return Status::kOk;
      }
    }
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
  const bool ok = m.index(data, len) && m.check_document();
  m.open = ok;
  if (!ok && why != nullptr) {
    m.describe();
    *why = m.why;
  }
  return ok;
}

bool Reader::reopen(const char* data, size_t len) {
  Impl& m = *impl_;
  m.open = m.index(data, len);
  return m.open;
}

void Reader::close() {
  impl_->open = false;
}

bool Reader::is_open() const {
  return impl_->open;
}

size_t Reader::capacity() const {
  return impl_->parser.capacity();
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
  if (path.is_document()) {
    *raw = m.root;
    return Status::kOk;
  }
  if (!m.restart()) {
    return Status::kInvalid;
  }
  auto k = [&](od::value& v) { return m.raw_of(v, raw); };
  const auto& segs = path.segments();
  const Status st = m.descend_root(segs.data(), segs.data() + segs.size(), k);
  if (st != Status::kOk) {
    *raw = {};
  }
  return st;
}

Status Reader::for_each_impl(const Path& path, ElementFn fn, void* ctx) {
  Impl& m = *impl_;
  if (!m.open) {
    return Status::kInvalid;
  }
  if (path.each_index() < 0) {
    return Status::kAbsent;
  }
  if (!m.restart()) {
    return Status::kInvalid;
  }
  const auto& segs = path.segments();
  const Path::Segment* each = segs.data() + path.each_index();
  const Path::Segment* rest = each + 1;
  const Path::Segment* end = segs.data() + segs.size();
  auto elements = [&](od::array& a) {
    for (auto result : a) {
      od::value v;
      if (std::move(result).get(v) != simdjson::SUCCESS) {
        return Status::kInvalid;
      }
      std::string_view raw;
      auto k = [&](od::value& x) { return m.raw_of(x, &raw); };
      const Status st = m.descend(v, rest, end, k);
      if (st == Status::kInvalid) {
        return st;
      }
      if (st == Status::kOk && !fn(ctx, raw)) {
        break;
      }
    }
    return Status::kOk;
  };
  if (each == segs.data()) {
    if (m.root[0] != '[') {
      return Status::kAbsent;
    }
    od::array a;
    if (m.doc.get_array().get(a) != simdjson::SUCCESS) {
      return Status::kInvalid;
    }
    return elements(a);
  }
  auto at_array = [&](od::value& v) {
    if (m.first(v) != '[') {
      return Status::kAbsent;
    }
    od::array a;
    if (v.get_array().get(a) != simdjson::SUCCESS) {
      return Status::kInvalid;
    }
    return elements(a);
  };
  return m.descend_root(segs.data(), each, at_array);
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
  const Writer::Mark mark = out.mark();
  if (!m.restart()) {
    return Status::kInvalid;
  }
  m.proj = &projection;
  Status st;
  if (projection.pick_ && !projection.pick_->is_document()) {
    auto k = [&](od::value& v) {
      const char c = m.first(v);
      if (c == '{' && !projection.renames_.empty()) {
        return m.write_projected(v, out);
      }
      std::string_view raw;
      const Status s = m.raw_of(v, &raw);
      if (s == Status::kOk) {
        out.raw(raw);
      }
      return s;
    };
    const auto& segs = projection.pick_->segments();
    st = m.descend_root(segs.data(), segs.data() + segs.size(), k);
  } else {
    st = m.project_root(out);
  }
  m.proj = nullptr;
  if (st != Status::kOk) {
    out.rollback(mark);
  }
  return st;
}

Status Reader::members_impl(const Projection& projection, MemberFn fn, void* ctx) {
  Impl& m = *impl_;
  if (!m.open) {
    return Status::kInvalid;
  }
  if (!m.restart()) {
    return Status::kInvalid;
  }
  m.proj = &projection;
  Status st;
  if (projection.pick_ && !projection.pick_->is_document()) {
    auto k = [&](od::value& v) {
      if (m.first(v) != '{') {
        return Status::kNotObject;
      }
      od::object o;
      if (v.get_object().get(o) != simdjson::SUCCESS) {
        return Status::kInvalid;
      }
      return m.member_loop(o, fn, ctx);
    };
    const auto& segs = projection.pick_->segments();
    st = m.descend_root(segs.data(), segs.data() + segs.size(), k);
  } else if (m.root[0] != '{') {
    st = m.root_fits(m.root[0]) ? Status::kNotObject : Status::kAbsent;
  } else if (!m.root_fits('{')) {
    st = Status::kAbsent;
  } else {
    od::object o;
    st = m.doc.get_object().get(o) != simdjson::SUCCESS ? Status::kInvalid
                                                        : m.member_loop(o, fn, ctx);
  }
  m.proj = nullptr;
  return st;
}

}  // namespace ringgate::json
