// Templates of aggregate backends: a path, query parameters, headers or a body with {placeholders}
// for path parameters, the client's query and headers, other backends' responses, the for_each
// element and JWT claims. They are compiled into pieces at load, so a request only concatenates.

#include <algorithm>

#include "config/aggregate_loader.h"

namespace ringgate::config_detail {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool is_name(std::string_view text, size_t max_size) {
  if (text.empty() || text.size() > max_size) {
    return false;
  }
  for (char c : text) {
    if (!is_name_char(c)) {
      return false;
    }
  }
  return true;
}

bool is_query_name(std::string_view name) {
  if (name.empty()) {
    return false;
  }
  for (char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f || c == '&' || c == '=' || c == '#' || c == '{' || c == '}') {
      return false;
    }
  }
  return true;
}

AggregateTemplate AggregateLoader::load_template(const Field& f, TemplateUse use,
                                                 const TemplateScope& scope,
                                                 BackendRefs& refs) const {
  AggregateTemplate t;
  t.text = scalar(
      f, use == TemplateUse::kPath ? "a path template like \"/items/{id}\"" : "a template string");
  const std::string& text = t.text;
  std::string literal;
  const auto flush = [&] {
    if (!literal.empty()) {
      TemplatePiece piece;
      piece.text = std::move(literal);
      t.pieces.push_back(std::move(piece));
      literal.clear();
    }
  };
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    const bool doubled = i + 1 < text.size() && text[i + 1] == c;
    if ((c == '{' || c == '}') && doubled) {
      literal += c;
      i += 2;
      continue;
    }
    if (c == '}') {
      fail(f, "unmatched '}' at character " + std::to_string(i + 1) + " of " + quote(text) +
                  "; write '}}' for a literal brace");
    }
    if (c != '{') {
      literal += c;
      ++i;
      continue;
    }
    const size_t close = text.find('}', i + 1);
    const size_t open = text.find('{', i + 1);
    if (close == std::string::npos) {
      fail(f, "'{' at character " + std::to_string(i + 1) + " of " + quote(text) +
                  " is never closed; write '{{' for a literal brace");
    }
    if (open < close) {
      fail(f, "'{' at character " + std::to_string(i + 1) + " of " + quote(text) +
                  " opens a placeholder that holds another '{'; write '{{' and '}}' for literal "
                  "braces (a JSON body: '{{\"id\": {item}}}')");
    }
    flush();
    t.pieces.push_back(
        load_placeholder(f, std::string_view(text).substr(i + 1, close - i - 1), scope, refs));
    i = close + 1;
  }
  flush();

  // The literal text, where it lands in the request; placeholders are encoded by the engine.
  if (use == TemplateUse::kPath) {
    if (t.pieces.empty() || t.pieces.front().kind != TemplatePiece::Kind::kLiteral ||
        t.pieces.front().text.front() != '/') {
      fail(f, "must start with '/', got " + quote(text));
    }
  }
  for (const TemplatePiece& piece : t.pieces) {
    if (piece.kind != TemplatePiece::Kind::kLiteral) {
      continue;
    }
    if (use == TemplateUse::kPath) {
      // What request_path_problem checks, but for a piece of a path.
      for (char ch : piece.text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c == 0x7f) {
          fail(f, "must not contain spaces or control characters (percent-encode them)");
        }
        if (c == '#') {
          fail(f, "must not contain '#'");
        }
        if (c == '?') {
          fail(f, "must not contain '?'; give query parameters in 'query'");
        }
      }
    } else if (use == TemplateUse::kHeader) {
      if (auto problem = field_value_problem(piece.text)) {
        fail(f, *problem);
      }
    } else if (use == TemplateUse::kQuery) {
      for (char ch : piece.text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) {
          fail(f, "must not contain control characters");
        }
      }
    }
  }
  return t;
}

TemplatePiece AggregateLoader::load_placeholder(const Field& f, std::string_view content,
                                                const TemplateScope& scope,
                                                BackendRefs& refs) const {
  const std::string shown = quote("{" + std::string(content) + "}");
  if (content.empty()) {
    fail(f, "empty placeholder '{}'; write '{{}}' for literal braces");
  }
  const size_t split = std::min(content.find_first_of(".["), content.size());
  const std::string_view head = content.substr(0, split);
  const std::string_view rest = content.substr(split);
  TemplatePiece piece;
  if (head == "claim") {
    if (rest.size() < 2 || rest.front() != '.') {
      fail(f, "placeholder " + shown + " needs a name: {claim.NAME}");
    }
    piece.kind = TemplatePiece::Kind::kClaim;
    piece.text = std::string(rest.substr(1));
    refs.claims.push_back({f, piece.text});  // needs the route's issuer, known later
    return piece;
  }
  if (head == "query" || head == "header") {
    if (rest.size() < 2 || rest.front() != '.') {
      fail(f, "placeholder " + shown + " needs a name: {" + std::string(head) + ".NAME}");
    }
    const std::string name(rest.substr(1));
    if (head == "header") {
      if (!is_token(name)) {
        fail(f, "in placeholder " + shown + ", " + quote(name) + " is not a valid header name");
      }
      piece.kind = TemplatePiece::Kind::kHeader;
      piece.text = ascii_lower(name);
    } else {
      if (!is_query_name(name)) {
        fail(f, "in placeholder " + shown + ", " + quote(name) +
                    " is not a query parameter name (no spaces, control characters, '&', '=' or "
                    "'#')");
      }
      piece.kind = TemplatePiece::Kind::kQuery;
      piece.text = name;
    }
    return piece;
  }
  if (!is_name(head, content.size())) {
    fail(f, shown +
                " is not a placeholder (a name of letters, digits, '_' and '-', then .member or "
                "[N] steps); write '{{' and '}}' for literal braces");
  }
  const auto read_path = [&](JsonPath& path) {
    std::vector<size_t> stars;
    if (auto problem = parse_path_steps(rest, path.steps, stars)) {
      fail(f, "in placeholder " + shown + ": " + *problem);
    }
    if (!stars.empty()) {
      fail(f, "in placeholder " + shown +
                  ": '[*]' belongs in for_each; a placeholder stands for one value");
    }
    path.text = std::string(!rest.empty() && rest.front() == '.' ? rest.substr(1) : rest);
  };
  if (head == "item") {
    if (!scope.for_each) {
      fail(f, "{item} is the for_each element, but this backend has no for_each");
    }
    piece.kind = TemplatePiece::Kind::kItem;
    read_path(piece.path);
    refs.uses_item = true;
    return piece;
  }
  for (size_t i = 0; i < scope.params.size(); ++i) {
    if (scope.params[i] == head) {
      if (!rest.empty()) {
        fail(f, "path parameter " + quote(head) + " is text; " + shown +
                    " cannot read a member or element of it");
      }
      piece.kind = TemplatePiece::Kind::kPathParam;
      piece.text = std::string(head);
      piece.index = static_cast<uint32_t>(i);
      return piece;
    }
  }
  for (size_t i = 0; i < scope.keys.size(); ++i) {
    if (scope.keys[i] != head) {
      continue;
    }
    if (i == scope.self) {
      fail(f, "backend " + quote(head) + " cannot read its own response (" + shown + ")");
    }
    piece.kind = TemplatePiece::Kind::kBackend;
    piece.index = static_cast<uint32_t>(i);
    read_path(piece.path);
    refs.add(piece.index, f);
    return piece;
  }
  if (!rest.empty()) {
    fail(f, "placeholder " + shown + " reads backend " + quote(head) +
                ", but no backend has that key (other backends: " + scope.other_keys() + ")");
  }
  std::vector<std::string_view> params(scope.params.begin(), scope.params.end());
  const std::string params_text = !params.empty() ? join(params)
                                  : scope.match_kind == RouteMatch::Kind::kPrefix
                                      ? "none: a prefix route has none"
                                      : "none: match.path has no {parameters}";
  fail(f, "unknown placeholder " + shown + " (path parameters: " + params_text +
              "; other backends: " + scope.other_keys() + "; or query.NAME, header.NAME" +
              (scope.for_each ? ", item" : "") + ")");
}

}  // namespace ringgate::config_detail
