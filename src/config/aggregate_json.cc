// The JSON side of aggregate backends: dotted paths into a body (for_each, placeholders, pick,
// allow, deny), projections of a backend or of a profile's override, renames, and `default:`
// values written as JSON text. A path or a default that the engine could never apply is refused
// here, with the value it would meet.

#include <algorithm>
#include <charconv>

#include "config/aggregate_loader.h"

namespace ringgate::config_detail {
namespace {

// An index at or past the element limit could never be found in a body the engine accepts.
constexpr uint32_t kMaxPathIndex = kMaxAggregateElements - 1;

bool comes_after(const Field& a, const Field& b) {
  return a.mark.line > b.mark.line || (a.mark.line == b.mark.line && a.mark.column > b.mark.column);
}

bool same_step(const JsonPathStep& a, const JsonPathStep& b) {
  return a.kind == b.kind && a.member == b.member && a.index == b.index;
}

// Whether `inner` lies inside `outer` or is the same path.
bool path_within(const JsonPath& inner, const JsonPath& outer) {
  if (inner.steps.size() < outer.steps.size()) {
    return false;
  }
  for (size_t i = 0; i < outer.steps.size(); ++i) {
    if (!same_step(inner.steps[i], outer.steps[i])) {
      return false;
    }
  }
  return true;
}

// Well-formed UTF-8: no overlong forms, surrogates or code points past U+10FFFF, so the JSON
// written from it is valid.
bool is_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    uint32_t code = 0;
    uint32_t min = 0;
    if ((c & 0xe0) == 0xc0) {
      length = 2, code = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      length = 3, code = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      length = 4, code = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + length > text.size()) {
      return false;
    }
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) {
        return false;
      }
      code = (code << 6) | (next & 0x3f);
    }
    if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
      return false;
    }
    i += length;
  }
  return true;
}

// A plain YAML 1.2 (core schema) number, spelled as JSON: no '+', no leading zeros, a digit on
// both sides of '.', hexadecimal (0x) and octal (0o) in decimal. nullopt: not a number (then
// `too_large` says whether it was a hexadecimal or octal number past 64 bits).
std::optional<std::string> json_number(std::string_view s, bool& too_large) {
  too_large = false;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data() + 2, s.data() + s.size(), v, s[1] == 'x' ? 16 : 8);
    if (end != s.data() + s.size()) {
      return std::nullopt;
    }
    if (ec == std::errc::result_out_of_range) {
      too_large = true;
      return std::nullopt;
    }
    if (ec != std::errc()) {
      return std::nullopt;
    }
    return std::to_string(v);
  }
  const auto digits_from = [&](size_t at) {
    size_t end = at;
    while (end < s.size() && s[end] >= '0' && s[end] <= '9') {
      ++end;
    }
    return end;
  };
  size_t i = 0;
  const bool negative = !s.empty() && s[0] == '-';
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    i = 1;
  }
  const size_t int_end = digits_from(i);
  const std::string_view whole = s.substr(i, int_end - i);
  i = int_end;
  bool dot = false;
  std::string_view fraction;
  if (i < s.size() && s[i] == '.') {
    dot = true;
    const size_t fraction_end = digits_from(i + 1);
    fraction = s.substr(i + 1, fraction_end - i - 1);
    i = fraction_end;
  }
  if (whole.empty() && fraction.empty()) {
    return std::nullopt;
  }
  std::string_view exponent;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    size_t at = i + 1;
    if (at < s.size() && (s[at] == '+' || s[at] == '-')) {
      ++at;
    }
    const size_t exponent_end = digits_from(at);
    if (exponent_end == at) {
      return std::nullopt;
    }
    exponent = s.substr(i, exponent_end - i);
    i = exponent_end;
  }
  if (i != s.size()) {
    return std::nullopt;
  }
  std::string out = negative ? "-" : "";
  const size_t first = whole.find_first_not_of('0');
  out += first == std::string_view::npos ? std::string_view("0") : whole.substr(first);
  if (dot) {
    out += '.';
    out += fraction.empty() ? std::string_view("0") : fraction;
  }
  out += exponent;
  return out;
}

}  // namespace

std::optional<std::string> parse_path_steps(std::string_view text, std::vector<JsonPathStep>& steps,
                                            std::vector<size_t>& each) {
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '.') {
      size_t end = i + 1;
      while (end < text.size() && is_name_char(text[end])) {
        ++end;
      }
      if (end == i + 1) {
        return "expected a member name (letters, digits, '_' and '-') after '.'";
      }
      JsonPathStep step;
      step.member = std::string(text.substr(i + 1, end - i - 1));
      steps.push_back(std::move(step));
      i = end;
    } else if (text[i] == '[') {
      const size_t close = text.find(']', i);
      if (close == std::string_view::npos) {
        return std::string("'[' without its ']'");
      }
      const std::string_view inside = text.substr(i + 1, close - i - 1);
      if (inside == "*") {
        each.push_back(steps.size());
      } else {
        uint32_t index = 0;
        auto [end, ec] = std::from_chars(inside.data(), inside.data() + inside.size(), index);
        if (inside.empty() || end != inside.data() + inside.size() ||
            (ec != std::errc() && ec != std::errc::result_out_of_range)) {
          return "expected an element number [N] or [*], got " +
                 quote("[" + std::string(inside) + "]");
        }
        if (inside.size() > 1 && inside.front() == '0') {
          return "element " + quote("[" + std::string(inside) + "]") +
                 " has a leading zero; write [" + std::to_string(index) + "]";
        }
        if (ec == std::errc::result_out_of_range || index > kMaxPathIndex) {
          return "element " + quote("[" + std::string(inside) + "]") + " is past the most " +
                 std::to_string(kMaxAggregateElements) + " elements a body may hold";
        }
        JsonPathStep step;
        step.kind = JsonPathStep::Kind::kIndex;
        step.index = index;
        steps.push_back(std::move(step));
      }
      i = close + 1;
    } else {
      return "unexpected " + quote(text.substr(i, 1)) +
             " (a path is names joined by '.', each optionally followed by [N])";
    }
  }
  return std::nullopt;
}

JsonPath AggregateLoader::load_json_path(const Field& f, std::string_view text, bool filter) const {
  JsonPath path;
  path.text = std::string(text);
  if (text.empty()) {
    fail(f, filter ? "empty path; expected a member path like items[*].id"
                   : "empty path; expected a dotted path like items[0].id");
  }
  if (text.front() == '.') {
    fail(f, "in " + quote(text) + ": a path starts with a member name or [N], not '.'");
  }
  std::vector<size_t> stars;
  const std::string steps = text.front() == '[' ? std::string(text) : "." + std::string(text);
  if (auto problem = parse_path_steps(steps, path.steps, stars)) {
    fail(f, "in " + quote(text) + ": " + *problem);
  }
  if (!filter) {
    if (!stars.empty()) {
      fail(f, "in " + quote(text) + ": '[*]' selects many values; pick takes one");
    }
    return path;
  }
  // allow and deny name members (of every element, with [*]), not positions.
  for (const JsonPathStep& step : path.steps) {
    if (step.kind == JsonPathStep::Kind::kIndex) {
      fail(f, "in " + quote(text) +
                  ": allow and deny take no element numbers; use [*] for every element");
    }
  }
  if (stars.size() > 1) {
    fail(f, "in " + quote(text) + ": more than one '[*]' (nested arrays are not supported)");
  }
  for (size_t at : stars) {
    JsonPathStep each;
    each.kind = JsonPathStep::Kind::kEach;
    path.steps.insert(path.steps.begin() + static_cast<ptrdiff_t>(at), std::move(each));
  }
  if (path.steps.back().kind == JsonPathStep::Kind::kEach) {
    fail(f, "in " + quote(text) + ": a path ends at a member; '[*]' goes before one, as in " +
                "lines[*].sku");
  }
  return path;
}

AggregateProjection AggregateLoader::load_projection(const Section& s,
                                                     const AggregateProjection* base,
                                                     bool merge) const {
  const Field* pick = s.find("pick");
  const Field* allow = s.find("allow");
  const Field* deny = s.find("deny");
  const Field* rename = s.find("rename");
  if (pick && (allow || deny)) {
    const Field& other = allow ? *allow : *deny;
    fail(comes_after(other, *pick) ? other : *pick,
         std::string("'pick' and '") + (allow ? "allow" : "deny") +
             "' are exclusive: pick replaces the body with one value, allow and deny filter its "
             "members");
  }
  if (pick && merge) {
    fail(*pick,
         "'pick' and merge: true are exclusive: pick replaces the body with one value, merge "
         "needs the members of an object (keep some members with allow instead)");
  }
  AggregateProjection p = base ? *base : AggregateProjection{};
  // An override replaces pick, allow and deny together, so it never mixes with the backend's.
  if (pick || allow || deny) {
    p.pick.reset();
    p.allow.clear();
    p.deny.clear();
  }
  if (pick) {
    p.pick = load_json_path(*pick, scalar(*pick, "a dotted path like items[0].id"), false);
  }
  std::vector<Field> deny_fields;
  if (allow) {
    p.allow = load_path_list(*allow, nullptr);
  }
  if (deny) {
    p.deny = load_path_list(*deny, &deny_fields);
  }
  if (!p.allow.empty()) {
    for (size_t i = 0; i < p.deny.size(); ++i) {
      bool inside = false;
      for (const JsonPath& kept : p.allow) {
        if (path_within(p.deny[i], kept)) {
          if (p.deny[i].steps.size() == kept.steps.size()) {
            fail(deny_fields[i], quote(p.deny[i].text) + " drops what allow keeps");
          }
          inside = true;
        }
      }
      if (!inside) {
        fail(deny_fields[i],
             quote(p.deny[i].text) + " lies outside every allow path, so allow already drops it");
      }
    }
  }
  if (rename) {
    p.rename = load_renames(*rename);
  }
  return p;
}

// A list of dotted paths; one path alone is shorthand for a list of one.
std::vector<JsonPath> AggregateLoader::load_path_list(const Field& f,
                                                      std::vector<Field>* fields) const {
  std::vector<Field> items;
  if (f.node.IsSequence()) {
    size_t i = 0;
    for (auto it = f.node.begin(); it != f.node.end(); ++it, ++i) {
      items.push_back(item(f, i, *it));
    }
    if (items.empty()) {
      fail(f, "empty list of paths");
    }
  } else {
    items.push_back(f);
  }
  std::vector<JsonPath> paths;
  for (const Field& v : items) {
    JsonPath path = load_json_path(v, scalar(v, "a member path like items[*].id"), true);
    for (const JsonPath& earlier : paths) {
      if (path_within(path, earlier) || path_within(earlier, path)) {
        fail(v, path.steps.size() == earlier.steps.size()
                    ? quote(path.text) + " is listed twice"
                    : quote(path.text) + " overlaps " + quote(earlier.text) +
                          "; list the outer path only");
      }
    }
    paths.push_back(std::move(path));
  }
  if (fields) {
    *fields = std::move(items);
  }
  return paths;
}

std::vector<MemberRename> AggregateLoader::load_renames(const Field& f) const {
  if (!f.node.IsMap()) {
    fail(f, "expected a map of member names to new names, got " + describe(f.node));
  }
  // Names are written into the response as they are, so nothing in them may need escaping.
  const auto check = [&](const YAML::Mark& mark, const std::string& name) {
    const bool plain = !name.empty() && is_utf8(name) && [&] {
      for (char ch : name) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
          return false;
        }
      }
      return true;
    }();
    if (!plain) {
      fail_at(mark, f.path + ": " + quote(name) +
                        " is not a member name this gateway writes (non-empty UTF-8 without "
                        "quotes, backslashes or control characters)");
    }
  };
  std::vector<MemberRename> renames;
  for (auto it = f.node.begin(); it != f.node.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: it-> yields a temporary proxy
    if (!key.IsScalar()) {
      fail_at(key.Mark(), f.path + ": member names must be plain strings, got " + describe(key));
    }
    const Field value = child(f, key.Scalar(), key, it->second);
    MemberRename r{key.Scalar(), scalar(value, "the new member name")};
    check(key.Mark(), r.from);
    check(value.mark, r.to);
    if (r.from == r.to) {
      fail(value, "renames " + quote(r.from) + " to itself");
    }
    for (const MemberRename& earlier : renames) {
      if (earlier.from == r.from) {
        fail_at(key.Mark(), f.path + ": " + quote(r.from) + " is renamed twice");
      }
      if (earlier.to == r.to) {
        fail(value,
             quote(earlier.from) + " and " + quote(r.from) + " are both renamed to " + quote(r.to));
      }
    }
    renames.push_back(std::move(r));
  }
  return renames;
}

// `default:` as JSON: strings quoted and escaped, YAML 1.2 numbers, booleans and null as JSON,
// lists and maps recursively.
void AggregateLoader::append_json(const Field& f, std::string& out) const {
  const YAML::Node& node = f.node;
  if (node.IsSequence()) {
    out += '[';
    size_t i = 0;
    for (auto it = node.begin(); it != node.end(); ++it, ++i) {
      if (i != 0) {
        out += ',';
      }
      append_json(item(f, i, *it), out);
    }
    out += ']';
    return;
  }
  if (node.IsMap()) {
    out += '{';
    std::vector<std::string> names;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;  // a copy: it-> yields a temporary proxy
      if (!key.IsScalar()) {
        fail_at(key.Mark(), f.path + ": JSON member names are strings, got " + describe(key));
      }
      const std::string name = key.Scalar();
      if (std::find(names.begin(), names.end(), name) != names.end()) {
        fail_at(key.Mark(), f.path + ": duplicate member " + quote(name));
      }
      const Field value = child(f, name, key, it->second);
      if (!names.empty()) {
        out += ',';
      }
      names.push_back(name);
      append_json_string(value, name, out);
      out += ':';
      append_json(value, out);
    }
    out += '}';
    return;
  }
  if (!node.IsScalar()) {
    out += "null";  // `default:` left empty, `~`, `null`
    return;
  }
  const std::string& text = node.Scalar();
  const std::string& tag = node.Tag();
  if (tag == "!" || tag == "tag:yaml.org,2002:str") {  // quoted, or !!str
    append_json_string(f, text, out);
    return;
  }
  if (tag != "?") {
    fail(f, "unsupported tag " + quote(tag) +
                " (a default is plain YAML; quote a value to keep it a string)");
  }
  if (text == "true" || text == "True" || text == "TRUE") {
    out += "true";
  } else if (text == "false" || text == "False" || text == "FALSE") {
    out += "false";
  } else if (text == "null" || text == "Null" || text == "NULL" || text == "~") {
    out += "null";
  } else if (bool too_large = false; auto number = json_number(text, too_large)) {
    out += *number;
  } else if (too_large) {
    fail(f, quote(text) + " does not fit in 64 bits; write large numbers in decimal");
  } else {
    std::string_view rest(text);
    if (!rest.empty() && (rest.front() == '+' || rest.front() == '-')) {
      rest.remove_prefix(1);
    }
    if (rest == ".inf" || rest == ".Inf" || rest == ".INF" || text == ".nan" || text == ".NaN" ||
        text == ".NAN") {
      fail(f, quote(text) + " has no JSON form (JSON numbers are finite); quote it for a string");
    }
    append_json_string(f, text, out);
  }
}

void AggregateLoader::append_json_string(const Field& f, std::string_view text,
                                         std::string& out) const {
  if (!is_utf8(text)) {
    fail(f, "not valid UTF-8, so it has no JSON form");
  }
  static const char kHex[] = "0123456789abcdef";
  out += '"';
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

}  // namespace ringgate::config_detail
