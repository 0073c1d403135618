// Path parsing and projection building: config time, so these allocate and report errors as text.

#include <string>

#include "aggregate/text.h"
#include "ringgate/aggregate/json.h"

namespace ringgate::json {
namespace {

std::string at(const char* what, size_t offset) {
  return std::string(what) + " at offset " + std::to_string(offset);
}

}  // namespace

bool Path::parse(std::string_view text, Path* out, std::string* why) {
  Path path;
  path.text_ = std::string(text);
  size_t i = 0;
  const size_t n = text.size();
  // Whether a member name may start here without a dot: only at the very beginning.
  bool after_dot = true;
  while (i < n) {
    const char c = text[i];
    if (c == '[') {
      if (after_dot && i > 0) {
        *why = at("empty member name", i);  // `a.[0]`
        return false;
      }
      const size_t close = text.find(']', i + 1);
      if (close == std::string_view::npos) {
        *why = at("unclosed [", i);
        return false;
      }
      const std::string_view inner = text.substr(i + 1, close - i - 1);
      Segment seg;
      if (inner == "*") {
        if (path.each_index_ >= 0) {
          *why = at("more than one [*] (fan-out over nested arrays is not supported)", i);
          return false;
        }
        seg.kind = Kind::kEach;
        path.each_index_ = static_cast<int>(path.segments_.size());
      } else {
        if (inner.empty()) {
          *why = at("empty [] (expected an index or *)", i);
          return false;
        }
        uint64_t v = 0;
        for (const char d : inner) {
          if (d < '0' || d > '9') {
            *why = at("array index must be decimal digits or *", i);
            return false;
          }
          v = v * 10 + static_cast<uint64_t>(d - '0');
          if (v > UINT32_MAX) {
            *why = at("array index too large", i);
            return false;
          }
        }
        if (inner.size() > 1 && inner[0] == '0') {
          *why = at("array index with a leading zero", i);
          return false;
        }
        seg.kind = Kind::kIndex;
        seg.index = static_cast<uint32_t>(v);
      }
      path.segments_.push_back(std::move(seg));
      i = close + 1;
      if (i < n && text[i] != '.' && text[i] != '[') {
        *why = at("expected . or [ after ]", i);
        return false;
      }
      after_dot = false;
      continue;
    }
    if (c == ']') {
      *why = at("unexpected ]", i);
      return false;
    }
    if (c == '.') {
      if (after_dot) {
        *why = at("empty member name", i);  // `.a`, `a..b`
        return false;
      }
      after_dot = true;
      ++i;
      if (i == n) {
        *why = at("empty member name", i);  // `a.`
        return false;
      }
      continue;
    }
    if (!after_dot) {
      *why = at("expected . or [ after ]", i);
      return false;
    }
    size_t end = i;
    while (end < n && text[end] != '.' && text[end] != '[' && text[end] != ']') {
      ++end;
    }
    Segment seg;
    seg.kind = Kind::kMember;
    seg.name = std::string(text.substr(i, end - i));
    path.segments_.push_back(std::move(seg));
    i = end;
    after_dot = false;
  }
  *out = std::move(path);
  return true;
}

bool Projection::build(const ProjectionSpec& spec, Projection* out, std::string* why) {
  Projection p;
  if (spec.pick && (!spec.allow.empty() || !spec.deny.empty())) {
    *why = "pick cannot be combined with allow or deny";
    return false;
  }
  if (spec.pick) {
    Path path;
    std::string reason;
    if (!Path::parse(*spec.pick, &path, &reason)) {
      *why = "pick \"" + *spec.pick + "\": " + reason;
      return false;
    }
    if (path.each_index() >= 0) {
      *why = "pick \"" + *spec.pick + "\": [*] selects many values; pick takes one";
      return false;
    }
    p.pick_ = std::move(path);
  }

  auto add = [&](const std::string& text, bool allow) {
    const char* list = allow ? "allow" : "deny";
    Path path;
    std::string reason;
    if (!Path::parse(text, &path, &reason)) {
      *why = std::string(list) + " \"" + text + "\": " + reason;
      return false;
    }
    if (path.is_document()) {
      *why = std::string(list) + ": the empty path (the whole body) is not a member";
      return false;
    }
    uint32_t node = 0;
    for (const Path::Segment& seg : path.segments()) {
      if (seg.kind == Path::Kind::kIndex) {
        *why = std::string(list) + " \"" + text + "\": array indexes are not supported, use [*]";
        return false;
      }
      if (allow) {
        p.nodes_[node].allow_below = true;
      } else {
        p.nodes_[node].deny_below = true;
      }
      int64_t child = -1;
      if (seg.kind == Path::Kind::kEach) {
        child = p.nodes_[node].each;
      } else {
        for (const uint32_t m : p.nodes_[node].members) {
          if (p.nodes_[m].name == seg.name) {
            child = m;
            break;
          }
        }
      }
      if (child < 0) {
        child = static_cast<int64_t>(p.nodes_.size());
        Node fresh;
        if (seg.kind == Path::Kind::kEach) {
          p.nodes_[node].each = static_cast<int32_t>(child);
        } else {
          fresh.name = seg.name;
          p.nodes_[node].members.push_back(static_cast<uint32_t>(child));
        }
        p.nodes_.push_back(std::move(fresh));  // invalidates references into nodes_
      }
      node = static_cast<uint32_t>(child);
    }
    if (allow) {
      p.nodes_[node].allow = true;
    } else {
      p.nodes_[node].deny = true;
    }
    return true;
  };
  for (const std::string& a : spec.allow) {
    if (!add(a, true)) {
      return false;
    }
  }
  for (const std::string& d : spec.deny) {
    if (!add(d, false)) {
      return false;
    }
  }
  p.filter_ = !spec.allow.empty();
  for (Node& n : p.nodes_) {
    for (const uint32_t m : n.members) {
      const Node& c = p.nodes_[m];
      n.allow_members = n.allow_members || c.allow || c.allow_below;
      n.deny_members = n.deny_members || c.deny || c.deny_below;
    }
    if (n.each >= 0) {
      const Node& c = p.nodes_[static_cast<size_t>(n.each)];
      n.allow_each = c.allow || c.allow_below;
      n.deny_each = c.deny || c.deny_below;
    }
  }

  if (spec.rename.size() > 64) {
    *why = "rename: at most 64 members";
    return false;
  }
  for (const auto& [from, to] : spec.rename) {
    for (const Rename& r : p.renames_) {
      if (r.from == from) {
        *why = "rename: \"" + from + "\" is renamed twice";
        return false;
      }
      if (r.to == to) {
        *why = "rename: two members renamed to \"" + to + "\"";
        return false;
      }
    }
    Rename r;
    r.from = from;
    r.to = to;
    detail::append_escaped(&r.to_escaped, to);
    p.renames_.push_back(std::move(r));
  }
  *out = std::move(p);
  return true;
}

}  // namespace ringgate::json
