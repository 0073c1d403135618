#include "ringgate/aggregate/render.h"

#include "aggregate/text.h"
#include "ringgate/core/hex.h"

namespace ringgate::aggregate {

namespace {

// A value taken from the request (already text): encoded for the target.
template <typename What>
bool put_text(std::string_view text, Target target, std::string& out, std::string* why,
              const What& what) {
  switch (target) {
    case Target::kPath:
    case Target::kQuery:
      percent_encode(text, out);
      return true;
    case Target::kHeader:
      for (char c : text) {
        if (c == '\r' || c == '\n' || c == '\0') {
          if (why) {
            *why = std::string(what()) + " holds CR, LF or NUL, which a header cannot carry";
          }
          return false;
        }
      }
      out.append(text);
      return true;
    case Target::kBody:
      json::detail::append_escaped(&out, text);
      return true;
  }
  return false;
}

// A raw JSON value from a body: strings and other scalars by their text, containers only into
// a body.
template <typename What>
bool put_json(std::string_view raw, Target target, std::string& out, std::string* why,
              const What& what) {
  std::string scratch;
  std::string_view text;
  const json::ScalarKind kind = json::scalar_text(raw, &scratch, &text);
  if (kind == json::ScalarKind::kNotScalar) {
    if (target == Target::kBody) {
      out.append(raw);
      return true;
    }
    if (why) {
      *why = std::string(what()) + " is an object or an array, not a value for a " +
             (target == Target::kHeader ? "header" : "URL");
    }
    return false;
  }
  if (target == Target::kBody && kind != json::ScalarKind::kString) {
    out.append(raw);  // numbers, true, false, null as written
    return true;
  }
  return put_text(text, target, out, why, what);
}

// Whether a rendered path (up to its query) has a "." or ".." segment. Values are encoded, but
// '.' is unreserved: a value "..", from the client's query or a backend's body, would otherwise
// make "/users/{query.id}/profile" a "/users/../profile" that the backend resolves to "/profile".
bool has_dot_segment(std::string_view path) {
  path = path.substr(0, path.find('?'));
  size_t at = 0;
  while (at <= path.size()) {
    size_t end = path.find('/', at);
    if (end == std::string_view::npos) {
      end = path.size();
    }
    const std::string_view segment = path.substr(at, end - at);
    if (segment == "." || segment == "..") {
      return true;
    }
    at = end + 1;
  }
  return false;
}

}  // namespace

bool CompiledTemplate::compile(const AggregateTemplate& source, const AggregateAction& action,
                               CompiledTemplate* out, std::string* why) {
  CompiledTemplate t;
  for (const TemplatePiece& p : source.pieces) {
    Piece piece;
    piece.piece = &p;
    switch (p.kind) {
      case TemplatePiece::Kind::kLiteral:
      case TemplatePiece::Kind::kPathParam:
        piece.name = p.text;
        break;
      case TemplatePiece::Kind::kQuery:
        piece.name = "query." + p.text;
        break;
      case TemplatePiece::Kind::kHeader:
        piece.name = "header." + p.text;
        break;
      case TemplatePiece::Kind::kClaim:
        piece.name = "claim." + p.text;
        break;
      case TemplatePiece::Kind::kItem:
      case TemplatePiece::Kind::kBackend:
        piece.name = p.kind == TemplatePiece::Kind::kItem ? "item" : action.backends[p.index].key;
        if (!p.path.text.empty()) {
          piece.name += "." + p.path.text;
          if (!json::Path::parse(p.path.text, &piece.path, why)) {
            return false;
          }
        }
        break;
    }
    t.pieces_.push_back(std::move(piece));
  }
  *out = std::move(t);
  return true;
}

bool render(const CompiledTemplate& t, Target target, TemplateValues& values, std::string& out,
            std::string* why) {
  const size_t start = out.size();
  std::string decoded;
  for (const CompiledTemplate::Piece& piece : t.pieces()) {
    const TemplatePiece& p = *piece.piece;
    switch (p.kind) {
      case TemplatePiece::Kind::kLiteral:
        if (target == Target::kQuery) {
          percent_encode(p.text, out);  // a query template is a value: all of it is encoded
        } else {
          out.append(p.text);  // path, header and body text is written as meant
        }
        break;
      case TemplatePiece::Kind::kPathParam:
      case TemplatePiece::Kind::kQuery:
      case TemplatePiece::Kind::kHeader:
      case TemplatePiece::Kind::kClaim: {
        std::string_view value;
        if (p.kind == TemplatePiece::Kind::kPathParam) {
          value = values.path_param(p.index);
        } else if (p.kind == TemplatePiece::Kind::kQuery) {
          value = values.query(p.text).value_or(std::string_view());
        } else if (p.kind == TemplatePiece::Kind::kHeader) {
          value = values.header(p.text).value_or(std::string_view());
        } else {
          value = values.claim(p.index);
        }
        // A header value or a claim is text already; a path or query value is decoded first
        // (one without a '%' is its own decoding).
        std::string_view text = value;
        if ((p.kind == TemplatePiece::Kind::kPathParam || p.kind == TemplatePiece::Kind::kQuery) &&
            value.find('%') != std::string_view::npos) {
          decoded.clear();
          percent_decode(value, decoded);
          text = decoded;
        }
        if (!put_text(text, target, out, why, [&piece] { return piece.name; })) {
          return false;
        }
        break;
      }
      case TemplatePiece::Kind::kItem:
      case TemplatePiece::Kind::kBackend: {
        const std::optional<std::string_view> raw = p.kind == TemplatePiece::Kind::kItem
                                                        ? values.item(piece.path)
                                                        : values.backend(p.index, piece.path);
        auto what = [&piece] { return piece.name; };
        if (!raw) {
          if (why) {
            *why = piece.name + " is absent";
          }
          return false;
        }
        if (!put_json(*raw, target, out, why, what)) {
          return false;
        }
        break;
      }
    }
  }
  if (target == Target::kPath && has_dot_segment(std::string_view(out).substr(start))) {
    if (why) {
      *why =
          "its path would have a \".\" or \"..\" segment, which the backend would resolve "
          "to another path";
    }
    return false;
  }
  return true;
}

void percent_decode(std::string_view in, std::string& out) {
  size_t from = 0;  // the bytes [from, pct) are copied as they are
  for (size_t pct = in.find('%'); pct != std::string_view::npos; pct = in.find('%', pct + 1)) {
    if (pct + 2 < in.size()) {
      const int hi = hex_digit(in[pct + 1]);
      const int lo = hex_digit(in[pct + 2]);
      if (hi >= 0 && lo >= 0) {
        out.append(in.data() + from, pct - from).push_back(static_cast<char>(hi * 16 + lo));
        from = pct + 3;
        pct += 2;
      }
    }
  }
  out.append(in.data() + from, in.size() - from);
}

void percent_encode(std::string_view in, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  size_t from = 0;  // the bytes [from, i) are unreserved: copied in one run
  for (size_t i = 0; i < in.size(); ++i) {
    const auto c = static_cast<unsigned char>(in[i]);
    if (!url_unreserved(c)) {
      const char escape[3] = {'%', kHex[c >> 4], kHex[c & 15]};
      out.append(in.data() + from, i - from).append(escape, sizeof escape);
      from = i + 1;
    }
  }
  out.append(in.data() + from, in.size() - from);
}

}  // namespace ringgate::aggregate
