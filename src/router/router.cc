#include "ringgate/router/router.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <utility>

#include "ringgate/core/hash.h"
#include "ringgate/core/method.h"

namespace ringgate {
namespace {

constexpr uint32_t kNoRoute = std::numeric_limits<uint32_t>::max();

// One `/`-separated piece of a template: a literal to compare, or a `{name}` capture.
struct TemplateSegment {
  bool is_param = false;
  std::string_view text;  // literal bytes, or the parameter name (no braces)
};

// What every route kind needs to decide host and method after its path matched.
struct CompiledRoute {
  uint32_t index = 0;
  uint64_t methods = 0;  // method bits; 0 = any method
  std::string host;      // lower-case; empty = any host
};

struct PrefixRoute {
  CompiledRoute base;
  // `/api/` covers `/api/` and everything under it: one more segment must follow the prefix's
  // own (the trie node holds `/api`). `/api` covers `/api` and `/api/x`, not `/apix`.
  bool needs_more = false;
};

struct TemplateRoute {
  CompiledRoute base;
  // Split at every '/', including the empty piece before the leading one, so a template and a
  // path line up segment by segment and a trailing slash is one more (empty) segment.
  std::vector<TemplateSegment> segments;
  int param_count = 0;
};

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string quoted(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

[[noreturn]] void fail(const RouteConfig& route, const std::string& reason) {
  throw ConfigError(route.mark, "route " + quoted(route.name) + ": " + reason);
}

uint64_t compile_methods(const RouteConfig& route) {
  uint64_t bits = 0;
  for (const std::string& name : route.match.methods) {
    int method = method_from_name(name);
    if (method < 0 || method >= kMaxMethods) {
      fail(route, "unknown method " + quoted(name));
    }
    bits |= method_bit(method);
  }
  // HEAD is GET without a body (RFC 9110 §9.3.2), so a route serving GET serves HEAD too.
  static const uint64_t kGet = method_bit(method_from_name("GET"));
  static const uint64_t kHead = method_bit(method_from_name("HEAD"));
  if (bits & kGet) {
    bits |= kHead;
  }
  return bits;
}

CompiledRoute compile_base(const RouteConfig& route, uint32_t index) {
  CompiledRoute base;
  base.index = index;
  base.methods = compile_methods(route);
  base.host.reserve(route.match.host.size());
  for (char c : route.match.host) {
    base.host.push_back(ascii_lower(c));
  }
  return base;
}

TemplateRoute compile_template(const RouteConfig& route, uint32_t index) {
  TemplateRoute compiled;
  compiled.base = compile_base(route, index);
  const std::string_view path = route.match.path;
  const std::string where = "template " + quoted(path) + ": ";
  if (path.empty() || path.front() != '/') {
    fail(route, where + "must start with '/'");
  }
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    std::string_view segment = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    size_t opens = 0;
    size_t closes = 0;
    for (char c : segment) {
      opens += c == '{';
      closes += c == '}';
    }
    if (opens == 0 && closes == 0) {
      compiled.segments.push_back({false, segment});
    } else if (opens != closes || segment.find('}') < segment.find('{')) {
      fail(route, where + "unbalanced braces in segment " + quoted(segment));
    } else if (opens != 1 || segment.front() != '{' || segment.back() != '}') {
      fail(route, where + "a parameter must span a whole path segment, not " + quoted(segment));
    } else {
      std::string_view name = segment.substr(1, segment.size() - 2);
      if (name.empty()) {
        fail(route, where + "empty parameter name");
      }
      for (const TemplateSegment& earlier : compiled.segments) {
        if (earlier.is_param && earlier.text == name) {
          fail(route, where + "duplicate parameter name " + quoted(name));
        }
      }
      if (compiled.param_count == kMaxPathParams) {
        fail(route, where + "more than " + std::to_string(kMaxPathParams) + " parameters");
      }
      compiled.segments.push_back({true, name});
      ++compiled.param_count;
    }
    if (slash == std::string_view::npos) {
      break;
    }
    start = slash + 1;
  }
  return compiled;
}

bool host_matches(const CompiledRoute& route, std::string_view host) {
  if (route.host.empty()) {
    return true;
  }
  if (route.host.size() != host.size()) {
    return false;
  }
  for (size_t i = 0; i < host.size(); ++i) {
    if (ascii_lower(host[i]) != route.host[i]) {
      return false;
    }
  }
  return true;
}

// Splits `text` at every '/' (the empty piece before a leading one included): the segments a
// template and a path line up by, and the edges of the trie.
template <typename F>
void for_each_segment(std::string_view text, F&& f) {
  size_t start = 0;
  while (true) {
    const size_t slash = text.find('/', start);
    f(text.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) {
      return;
    }
    start = slash + 1;
  }
}

// A trie over path segments for prefix and template routes. Each edge is one whole segment: a
// literal, or the node's one parameter edge (any non-empty segment). A route hangs at the node its
// segments lead to; matching walks the request path's segments down every edge that fits and
// keeps the lowest route index that matches in full, so first-match order holds while the cost
// follows the path's depth, not the number of routes. A subtree whose lowest route index is not
// below the best match so far is not entered.
struct TrieNode {
  uint32_t param_child = kNoRoute;
  uint32_t children = 0;           // literal edges out of this node
  uint32_t only_child = kNoRoute;  // children == 1: that edge, compared without hashing
  std::string_view only_segment;
  uint32_t subtree_min = kNoRoute;  // lowest route index at or under this node
  uint32_t below_min = kNoRoute;    // lowest route index strictly under it
  std::vector<uint32_t> prefixes;   // into Impl::prefixes, config order
  std::vector<uint32_t> templates;  // into Impl::templates, config order
};

// A read-only hash index from (tag, text) to a number, built once: open addressing over a
// power-of-two table, so a lookup is one short hash and usually one probe. The trie's edges use
// the parent node as the tag; the exact paths use tag 0 on a table of their own.
class FlatIndex {
 public:
  void add(uint32_t tag, std::string_view text, uint32_t value) {
    entries_.push_back(Slot{hash(tag, text), tag, value, text});
  }

  // Call once after the last add().
  void build() {
    size_t capacity = 8;
    while (capacity < entries_.size() * 2) {
      capacity *= 2;
    }
    mask_ = capacity - 1;
    slots_.assign(capacity, Slot{});
    for (const Slot& e : entries_) {
      size_t at = e.hash & mask_;
      while (slots_[at].value != kNoRoute) {
        at = (at + 1) & mask_;
      }
      slots_[at] = e;
    }
    entries_.clear();
    entries_.shrink_to_fit();
  }

  uint32_t find(uint32_t tag, std::string_view text) const {
    const uint64_t h = hash(tag, text);
    for (size_t at = h & mask_;; at = (at + 1) & mask_) {
      const Slot& slot = slots_[at];
      if (slot.value == kNoRoute) {
        return kNoRoute;
      }
      if (slot.hash == h && slot.tag == tag && slot.text == text) {
        return slot.value;
      }
    }
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t tag = 0;
    uint32_t value = kNoRoute;  // kNoRoute: an empty slot
    std::string_view text;
  };

  // Eight bytes at a time; a short tail is read as overlapping words (segments are mostly short).
  static uint64_t hash(uint32_t tag, std::string_view text) {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const size_t n = text.size();
    uint64_t h = (static_cast<uint64_t>(n) << 32 | tag) * 0x9e3779b97f4a7c15ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      h = (h ^ load(p + i, 8)) * 0xff51afd7ed558ccdull;
      h ^= h >> 32;
    }
    const size_t rest = n - i;
    if (rest >= 4) {
      h ^= load(p + i, 4) << 32 | load(p + n - 4, 4);
    } else if (rest > 0) {
      h ^= static_cast<uint64_t>(p[i]) << 16 | static_cast<uint64_t>(p[i + rest / 2]) << 8 |
           p[n - 1];
    }
    return mix64(h);
  }

  static uint64_t load(const unsigned char* p, size_t bytes) {
    uint64_t v = 0;
    memcpy(&v, p, bytes);  // bytes is 4 or 8 at every call: a plain load
    return v;
  }

  std::vector<Slot> entries_;   // until build()
  std::vector<Slot> slots_{1};  // one empty slot until build(): find() finds nothing
  size_t mask_ = 0;
};

// Prefix and template routes, compiled.
struct Trie {
  std::vector<PrefixRoute> prefixes;
  std::vector<TemplateRoute> templates;
  std::vector<TrieNode> nodes{1};  // [0] is the root: no segment consumed yet
  FlatIndex edges;                 // (parent, segment) → child, for nodes with 2+ children

  uint32_t child(uint32_t parent, std::string_view segment) {
    auto [it, added] = building_.try_emplace(std::make_pair(parent, segment), 0);
    if (added) {
      it->second = static_cast<uint32_t>(nodes.size());
      nodes.emplace_back();
      TrieNode& p = nodes[parent];
      if (++p.children == 1) {
        p.only_child = it->second;
        p.only_segment = segment;
      }
    }
    return it->second;
  }

  // After the last route: the edges into the read-only index.
  void build() {
    for (const auto& [key, node] : building_) {
      if (nodes[key.first].children > 1) {
        edges.add(key.first, key.second, node);
      }
    }
    edges.build();
    building_.clear();
  }

  uint32_t find(uint32_t parent, std::string_view segment) const {
    const TrieNode& p = nodes[parent];
    if (p.children == 1) {
      return p.only_segment == segment ? p.only_child : kNoRoute;
    }
    return p.children == 0 ? kNoRoute : edges.find(parent, segment);
  }
  std::map<std::pair<uint32_t, std::string_view>, uint32_t> building_;

  uint32_t param_child(uint32_t parent) {
    if (nodes[parent].param_child == kNoRoute) {
      nodes[parent].param_child = static_cast<uint32_t>(nodes.size());
      nodes.emplace_back();
    }
    return nodes[parent].param_child;
  }
};

// One match in progress: the best route so far and the captures along the walk.
struct Walk {
  Walk(const Trie& trie, std::string_view host, std::string_view path, uint64_t bit,
       PathParam* params)
      : trie(trie), host(host), path(path), bit(bit), params(params) {}

  const Trie& trie;
  std::string_view host;
  std::string_view path;
  uint64_t bit;
  uint32_t best = kNoRoute;
  uint64_t allowed = 0;
  int best_params = 0;
  PathParam* params;
  union {  // [0, captured) on the current walk; left unset, not cleared per request
    std::string_view captures[kMaxPathParams];
  };

  // A route whose path matched: it wins when its host and method match and it comes first.
  bool consider(const CompiledRoute& route) {
    if (route.index >= best || !host_matches(route, host)) {
      return false;
    }
    if (route.methods == 0 || (route.methods & bit) != 0) {
      best = route.index;
      best_params = 0;  // a template that wins sets its count after this
      return true;
    }
    allowed |= route.methods;
    return false;
  }

  // At `node`, the path consumed up to `end` (a '/' or the path's end).
  void visit(uint32_t node, size_t end, int captured) {
    const TrieNode& n = trie.nodes[node];
    const bool more = end < path.size();
    for (uint32_t i : n.prefixes) {
      const PrefixRoute& route = trie.prefixes[i];
      if ((more || !route.needs_more) && consider(route.base)) {
        break;
      }
    }
    if (!more) {
      for (uint32_t i : n.templates) {
        const TemplateRoute& route = trie.templates[i];
        if (consider(route.base)) {
          int k = 0;
          for (const TemplateSegment& segment : route.segments) {
            if (segment.is_param) {
              params[k] = PathParam{segment.text, captures[k]};
              ++k;
            }
          }
          best_params = route.param_count;
          break;
        }
      }
      return;
    }
    if (n.below_min < best) {
      descend(node, end + 1, captured);
    }
  }

  // A path given with its query: `/api` covers `/api?x=1` (a prefix that ends with '/' does not).
  void query_ends(uint32_t node, std::string_view segment) {
    const uint32_t next = trie.find(node, segment);
    if (next == kNoRoute || trie.nodes[next].subtree_min >= best) {
      return;
    }
    for (uint32_t i : trie.nodes[next].prefixes) {
      const PrefixRoute& route = trie.prefixes[i];
      if (!route.needs_more && consider(route.base)) {
        break;
      }
    }
  }

  // The segment starting at `start` taken from `node` down each edge that fits.
  void descend(uint32_t node, size_t start, int captured) {
    // One pass to the next '/' (segments are short: no library search), noting a '?' on the way.
    size_t end = start;
    size_t query = std::string_view::npos;
    for (; end < path.size() && path[end] != '/'; ++end) {
      if (path[end] == '?' && query == std::string_view::npos) {
        query = end;
      }
    }
    const std::string_view segment = path.substr(start, end - start);
    if (query != std::string_view::npos) {
      query_ends(node, path.substr(start, query - start));
    }
    if (const uint32_t next = trie.find(node, segment);
        next != kNoRoute && trie.nodes[next].subtree_min < best) {
      visit(next, end, captured);
    }
    const uint32_t param = trie.nodes[node].param_child;
    if (param != kNoRoute && !segment.empty() && captured < kMaxPathParams &&
        trie.nodes[param].subtree_min < best) {
      captures[captured] = segment;
      visit(param, end, captured + 1);
    }
  }
};

}  // namespace

struct Router::Impl {
  const Config* config = nullptr;
  // Exact path → every exact route with that path, in config order (hosts and methods may
  // differ, so the first one is not always the answer).
  std::vector<std::vector<CompiledRoute>> exact;
  FlatIndex exact_index;          // path → its group in `exact`
  uint32_t exact_min = kNoRoute;  // the lowest index of an exact route
  Trie trie;
};

Router::Router(const Config& config) : impl_(std::make_unique<Impl>()) {
  impl_->config = &config;
  Trie& t = impl_->trie;
  std::map<std::string_view, uint32_t> exact_groups;
  std::vector<uint32_t> trail;  // the nodes a route's segments pass, for subtree_min
  // `trail` ends with the route's own node: every node before it has the route below it.
  auto hang = [&](uint32_t index) {
    for (size_t k = 0; k < trail.size(); ++k) {
      TrieNode& n = t.nodes[trail[k]];
      n.subtree_min = std::min(n.subtree_min, index);
      if (k + 1 < trail.size()) {
        n.below_min = std::min(n.below_min, index);
      }
    }
  };
  for (size_t i = 0; i < config.routes.size(); ++i) {
    const RouteConfig& route = config.routes[i];
    const uint32_t index = static_cast<uint32_t>(i);
    uses_hosts_ = uses_hosts_ || !route.match.host.empty();
    trail.assign(1, 0);
    uint32_t node = 0;
    switch (route.match.kind) {
      case RouteMatch::Kind::kExact: {
        auto [it, added] =
            exact_groups.try_emplace(route.match.path, static_cast<uint32_t>(impl_->exact.size()));
        if (added) {
          impl_->exact.emplace_back();
          impl_->exact_index.add(0, route.match.path, it->second);
        }
        impl_->exact[it->second].push_back(compile_base(route, index));
        impl_->exact_min = std::min(impl_->exact_min, index);
        break;
      }
      case RouteMatch::Kind::kPrefix: {
        PrefixRoute prefix;
        prefix.base = compile_base(route, index);
        std::string_view text = route.match.path;
        prefix.needs_more = !text.empty() && text.back() == '/';
        if (prefix.needs_more) {
          text.remove_suffix(1);
        }
        for_each_segment(text, [&](std::string_view segment) {
          node = t.child(node, segment);
          trail.push_back(node);
        });
        t.nodes[node].prefixes.push_back(static_cast<uint32_t>(t.prefixes.size()));
        t.prefixes.push_back(std::move(prefix));
        hang(index);
        break;
      }
      case RouteMatch::Kind::kTemplate: {
        TemplateRoute compiled = compile_template(route, index);
        for (const TemplateSegment& segment : compiled.segments) {
          node = segment.is_param ? t.param_child(node) : t.child(node, segment.text);
          trail.push_back(node);
        }
        t.nodes[node].templates.push_back(static_cast<uint32_t>(t.templates.size()));
        t.templates.push_back(std::move(compiled));
        hang(index);
        break;
      }
    }
  }
  impl_->exact_index.build();
  t.build();
}

Router::~Router() = default;

void Router::match(std::string_view host, int method, std::string_view path,
                   RouteMatchResult& result) const {
  // Out-of-range methods match only routes that accept any method.
  const uint64_t bit = (method >= 0 && method < kMaxMethods) ? method_bit(method) : 0;
  Walk walk(impl_->trie, host, path, bit, result.params);
  if (impl_->trie.nodes[0].subtree_min < walk.best) {
    walk.descend(0, 0, 0);
  }
  // Exact routes after the trie: the path is hashed whole only when one could still come first.
  if (impl_->exact_min < walk.best) {
    if (const uint32_t group = impl_->exact_index.find(0, path); group != kNoRoute) {
      for (const CompiledRoute& route : impl_->exact[group]) {
        if (walk.consider(route)) {
          break;
        }
      }
    }
  }

  if (walk.best != kNoRoute) {
    result.status = RouteMatchResult::Status::kMatched;
    result.route = &impl_->config->routes[walk.best];
    result.route_index = walk.best;
    result.allowed_methods = 0;
    // 0 unless a template won; its captures are already in result.params.
    result.param_count = walk.best_params;
    return;
  }
  result.status = walk.allowed != 0 ? RouteMatchResult::Status::kMethodNotAllowed
                                    : RouteMatchResult::Status::kNotFound;
  result.route = nullptr;
  result.route_index = 0;
  result.allowed_methods = walk.allowed;
  result.param_count = 0;
}

}  // namespace ringgate
