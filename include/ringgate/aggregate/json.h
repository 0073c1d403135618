#pragma once
// JSON for aggregation: validate upstream bodies, select values by dotted paths, project bodies and
// merge them into one response by splicing the upstream bytes — never through a DOM. Built on
// simdjson's stage 1 (its SIMD structural index; see reader.cc for why not its On Demand
// iterators), which this header does not expose.
//
// Who owns what:
// - `Path` and `Projection` are built once from config (they may allocate and report errors as
//   text) and are then immutable: shards share them read-only.
// - `Reader` belongs to one shard (not thread-safe) and holds one open body at a time. It owns the
//   structural index (8 bytes per token) and scratch buffers, which grow to the largest body seen
//   and are reused: once that size is reached, no Reader call allocates.
// - `Writer` is a cheap per-request object over a caller-owned std::string whose capacity the
//   caller reuses between requests.
// - Every view a Reader hands out points into the body (valid while the body's bytes are), except
//   where a comment says it points into Reader scratch (valid until the next Reader call).
//
// Nothing here throws; the request-path calls return a Status or a bool and a reason.
//
// Typical use by the aggregation engine, per upstream body (in a buffer with kPadding spare
// bytes after it):
//
//   std::string_view why;
//   if (!reader.validate(body, len, limits, &why)) { /* backend failure (502): why */ }
//   std::string_view id;
//   reader.find(customer_id_path, &id);          // for a chained backend's template
//   writer.key("product");
//   if (reader.project(projection, writer) == json::Status::kAbsent) { writer.null(); }

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace ringgate::json {

// Readable bytes the caller guarantees after every body passed to Reader (SIMDJSON_PADDING; the
// .cc checks they agree). Their content does not matter, but when the first of them is `]` or
// `}` simdjson scans the whole index once more per walk to check balance, so zeroing it is best.
inline constexpr size_t kPadding = 64;

// Hard ceiling on Limits::max_depth: the validator keeps fixed-size state per nesting level.
inline constexpr uint32_t kMaxDepthCap = 1024;

// Per-body limits enforced by Reader::validate (body bytes are checked by the caller before).
struct Limits {
  // Containers nested inside each other: `1` and `{}` have depths 0 and 1, `{"a":[1]}` has 2.
  // Values above kMaxDepthCap are treated as kMaxDepthCap.
  uint32_t max_depth = 64;
  // Elements of any one array (objects' member counts are bounded by the body size only).
  uint32_t max_array_elements = 10000;
};

// Outcome of a query, projection or member walk on the open body.
enum class Status : uint8_t {
  kOk,
  kAbsent,     // the path leads nowhere: missing member, index out of range, wrong type on the way
  kNotObject,  // members(): the (projected) body is not an object
  kInvalid,    // no body is open (validate() was not called or failed)
};
const char* status_name(Status status);

// A dotted member path: `customerId`, `order.customerId`, `lines[0].sku`, `[2]`, and with one
// `[*]` for fan-out, `order.lines[*].productId`. The empty path is the document itself. Member
// names are matched against keys after JSON unescaping; they are any bytes but `.`, `[` and `]`
// (so a key containing those cannot be addressed). Indexes are decimal, no sign or leading zero.
class Path {
 public:
  enum class Kind : uint8_t { kMember, kIndex, kEach };
  struct Segment {
    Kind kind = Kind::kMember;
    uint32_t index = 0;  // kIndex
    std::string name;    // kMember
  };

  Path() = default;  // the document

  // Parses `text`; on failure returns false, leaves `out` untouched and sets `why`, e.g.
  // "empty member name at offset 2", "unclosed [ at offset 5", "more than one [*]".
  static bool parse(std::string_view text, Path* out, std::string* why);

  const std::string& text() const { return text_; }
  const std::vector<Segment>& segments() const { return segments_; }
  bool is_document() const { return segments_.empty(); }
  // Position of the `[*]` segment in segments(), or -1 when there is none.
  int each_index() const { return each_index_; }

 private:
  std::string text_;
  std::vector<Segment> segments_;
  int each_index_ = -1;
};

// What config says about one backend's body. Paths use Path syntax.
struct ProjectionSpec {
  // That value replaces the body. Exclusive with allow/deny; may be combined with rename.
  std::optional<std::string> pick;
  // Keep only these paths; the structure leading to them is kept (objects stay objects, `[*]`
  // keeps every element of an array, projected). No `[N]` indexes here.
  std::vector<std::string> allow;
  // Remove these paths (after allow). Unknown paths in allow/deny simply match nothing.
  std::vector<std::string> deny;
  // Top-level member old name → new name, applied last (allow/deny use the old names).
  std::vector<std::pair<std::string, std::string>> rename;
};

// A compiled ProjectionSpec. Semantics, applied to the body's value (or to the picked value):
// - allow: a member is kept when an allow path ends at it (its whole subtree, minus denials) or
//   passes through it and its value has the type the path needs next (object for `.name`, array
//   for `[*]`); such a container is kept even if nothing inside it survives (`{}` / `[]`).
//   When the root itself does not have the type the allow paths need, the projection is
//   kAbsent (nothing selected), like a pick whose path is missing.
// - deny: every member / every element (`[*]`) a deny path ends at is removed; deny wins over
//   allow for the same path; a deny path through a value of the wrong type does nothing.
// - rename: applies to the top-level members of an object result; nothing otherwise.
// - Duplicate keys in a body: every occurrence is treated alike (kept, denied or renamed), so
//   duplicates pass through. A rename onto a name that already exists yields duplicate keys.
class Projection {
 public:
  Projection() : nodes_(1) {}  // identity: the body as it is

  // Fails (returns false, sets `why`) for a malformed path, pick together with allow or deny,
  // `[N]` or the empty path in allow/deny, and two renames of one name or onto one name.
  static bool build(const ProjectionSpec& spec, Projection* out, std::string* why);

  bool is_identity() const { return !pick_ && nodes_.size() <= 1 && renames_.empty(); }

 private:
  friend class Reader;
  // One trie node per path prefix; nodes_[0] is the root.
  struct Node {
    std::string name;  // member name (empty for a `[*]` node)
    bool allow = false;
    bool deny = false;
    bool allow_below = false;       // some allow path continues below this node
    bool deny_below = false;        // some deny path continues below this node
    std::vector<uint32_t> members;  // child nodes by member name
    int32_t each = -1;              // child node for `[*]`
    // Which kind of value an allow / a deny path needs here to go on (object: a member child).
    bool allow_members = false;
    bool allow_each = false;
    bool deny_members = false;
    bool deny_each = false;
  };
  struct Rename {
    std::string from;
    std::string to;
    std::string to_escaped;  // `to` as JSON string content, for Member::raw_key
  };

  std::optional<Path> pick_;
  bool filter_ = false;      // there are allow paths
  std::vector<Node> nodes_;  // never empty
  std::vector<Rename> renames_;
};

// Writes one JSON value into a caller-owned string (appending to what is there). Calls out of
// order (a value where a key is due, a second top-level value, end_array in an object, a key
// outside an object, nesting deeper than kMaxNesting, an empty raw) write nothing, set failed()
// and assert in debug builds: given valid raw inputs, the text is valid JSON once complete().
class Writer {
 public:
  static constexpr int kMaxNesting = 64;

  explicit Writer(std::string& out) : out_(&out) {}

  void begin_object();
  void end_object();
  void begin_array();
  void end_array();
  // A member name, escaped here (invalid UTF-8 becomes U+FFFD). Must be followed by one value.
  void key(std::string_view name);
  // A member name already in JSON string form without its quotes (Member::raw_key, or a key
  // escaped at config time). Not checked.
  void raw_key(std::string_view escaped);
  // An already-valid JSON value, copied as is (one memcpy). Not checked beyond being non-empty.
  void raw(std::string_view json);
  // A whole already-valid member, `"key":value` as it appears in a body, inside an object.
  void raw_member(std::string_view member_json);
  void string(std::string_view text);  // escaped; invalid UTF-8 becomes U+FFFD
  void number(int64_t value);
  void boolean(bool value);
  void null();

  // One top-level value is written, every container is closed and no call was out of order.
  bool complete() const { return done_ && !failed_; }
  bool failed() const { return failed_; }
  // Containers open now (0 at the top level).
  int depth() const { return depth_; }

  // A point to go back to, e.g. to replace a projection that came out kAbsent with null.
  struct Mark {
    size_t size = 0;
    uint64_t kinds = 0;
    int depth = 0;
    bool first = true;
    bool expect_key = false;
    bool done = false;
  };
  Mark mark() const { return Mark{out_->size(), kinds_, depth_, first_, expect_key_, done_}; }
  // Truncates the output to `m` and restores the state then (failed() is kept).
  void rollback(const Mark& m);

 private:
  bool in_object() const { return depth_ > 0 && (kinds_ >> (depth_ - 1) & 1) != 0; }
  bool before_value();  // checks that a value may come now, writes its comma
  void after_value();
  bool push(bool object);
  void fail();

  std::string* out_;
  uint64_t kinds_ = 0;  // bit d-1 set: container at depth d is an object
  int depth_ = 0;
  bool first_ = true;        // nothing written yet in the current container
  bool expect_key_ = false;  // in an object, a key (or the end) comes next
  bool done_ = false;
  bool failed_ = false;
};

// One top-level member of a (projected) object body, as Reader::members() reports it.
struct Member {
  // The key after unescaping and renaming. Points into the body, the Projection, or Reader
  // scratch when the key has escapes: valid during the callback only.
  std::string_view key;
  // The key as JSON string content without quotes (escapes kept): for Writer::raw_key. Points
  // into the body or the Projection.
  std::string_view raw_key;
  // The value's JSON text. Points into the body, or into Reader scratch when the projection
  // changed the value: valid during the callback only.
  std::string_view value;
};

// A shard's JSON reader. validate() indexes a body and opens it; the queries below then work on
// that index, jumping over subtrees they do not need (a query costs the members and elements on
// its path, not the body's size). Validating another body closes the previous one; the body's
// bytes must stay unchanged while it is open. To keep several bodies open at once (an
// aggregation coming back to a body after others were read), use one Reader per body, pooled per
// shard, or validate the body again (about 0.3 us per KB).
class Reader {
 public:
  Reader();
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Full check: `data[0..len)` must be exactly one JSON value (RFC 8259) with optional whitespace
  // around it, within `limits`. `data` must be followed by kPadding readable bytes (read, never
  // written, like the body); a NUL first among them (a std::string's) spares the check a bound
  // test per token. On success the body is open; on failure `*why` (if given) is a short
  // reason such as "invalid JSON (expected ',' or '}') near byte 17", "invalid JSON
  // (UTF8_ERROR)", "nesting deeper than 64 levels" or "array longer than 10000 elements",
  // pointing into Reader storage valid until the next validate().
  // Stricter than the RFC in one respect: a \u escape of a lone UTF-16 surrogate is rejected
  // (its text could not be UTF-8), as are bytes that are not UTF-8.
  bool validate(const char* data, size_t len, const Limits& limits, std::string_view* why);

  void close();
  bool is_open() const;

  // The raw JSON text (exact bytes, no surrounding whitespace) of the value at `path`. The path
  // must not contain `[*]` (kAbsent if it does). A key that appears twice: the first one wins.
  Status find(const Path& path, std::string_view* raw);

  // Fan-out: for the array at the path's `[*]`, calls `fn(std::string_view raw)` for each
  // element with the rest of the path applied to it, in order; elements where the rest is absent
  // are skipped. `fn` returns void, or bool (false stops the walk, e.g. at an element cap).
  // kOk when the array exists (even if empty or every element was skipped), kAbsent when it does
  // not (or the path has no `[*]`). The views point into the body.
  template <typename Fn>
  Status for_each(const Path& path, Fn&& fn) {
    return for_each_impl(path, &call_element<std::remove_reference_t<Fn>>, &fn);
  }

  // Writes the projected body into `out` as one value (where a value may come). Untouched
  // subtrees are copied raw, one copy per kept member, and dropped ones are jumped over. kAbsent
  // (nothing written) when a pick's path is missing or the root does not fit the allow paths.
  // The identity projection is one copy of the body without its surrounding whitespace.
  Status project(const Projection& projection, Writer& out);

  // Merge support: calls `fn(const Member&)` for each top-level member of the projected body, in
  // order (duplicates included), so that the caller can splice members of several bodies into
  // one object and resolve key collisions itself. `fn` returns void, or bool (false stops).
  // kNotObject when the (projected) body is not an object; kAbsent as for project().
  template <typename Fn>
  Status members(const Projection& projection, Fn&& fn) {
    return members_impl(projection, &call_member<std::remove_reference_t<Fn>>, &fn);
  }

  // Bytes of body the index is sized for now (it grows to the largest body and stays).
  size_t capacity() const;

 private:
  using ElementFn = bool (*)(void* ctx, std::string_view raw);
  using MemberFn = bool (*)(void* ctx, const Member& member);

  template <typename Fn>
  static bool call_element(void* ctx, std::string_view raw) {
    Fn& fn = *static_cast<Fn*>(ctx);
    if constexpr (std::is_same_v<std::invoke_result_t<Fn&, std::string_view>, void>) {
      fn(raw);
      return true;
    } else {
      return static_cast<bool>(fn(raw));
    }
  }
  template <typename Fn>
  static bool call_member(void* ctx, const Member& member) {
    Fn& fn = *static_cast<Fn*>(ctx);
    if constexpr (std::is_same_v<std::invoke_result_t<Fn&, const Member&>, void>) {
      fn(member);
      return true;
    } else {
      return static_cast<bool>(fn(member));
    }
  }

  Status for_each_impl(const Path& path, ElementFn fn, void* ctx);
  Status members_impl(const Projection& projection, MemberFn fn, void* ctx);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What a raw scalar stands for when substituted into a URL path, query or header template.
enum class ScalarKind : uint8_t { kNotScalar, kString, kNumber, kTrue, kFalse, kNull };

// For a string, `*text` is its unescaped content (UTF-8; every JSON escape including \uXXXX
// surrogate pairs; \u0000 gives a NUL byte), pointing into `raw` when there is no escape and into
// `*scratch` otherwise. Numbers, true, false and null give their text as written. Objects, arrays
// and anything that is not one valid JSON scalar (surrounding whitespace included) give
// kNotScalar and an empty text. Percent-encoding is the caller's job.
ScalarKind scalar_text(std::string_view raw, std::string* scratch, std::string_view* text);

}  // namespace ringgate::json
