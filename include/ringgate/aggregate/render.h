#pragma once
// Templates of aggregation backends (path, query values, header values, body) rendered per
// request. Config compiles the text into pieces (config/aggregate.h); here the paths into JSON
// values are compiled once more for json::Reader, and a request's values are substituted, each
// encoded for where it goes:
//
//   target   value from the request (path param,      value from a JSON body (backend, item)
//            query, header): percent-decoded first
//   kPath    percent-encoded (unreserved kept)         scalar text, percent-encoded
//   kQuery   percent-encoded (unreserved kept)         scalar text, percent-encoded
//   kHeader  as text                                   scalar text
//   kBody    JSON-escaped, without quotes              strings escaped without quotes; other
//                                                      values (objects, arrays too) as JSON text
//
// Literal text goes in as written, except in a query value, which is encoded whole (the
// template is the value; `&` and `=` in it stay data). A query parameter or header the request
// lacks stands for "". A JSON value that is absent, or
// an object or array outside a body, fails the rendering: the backend cannot be called. A header
// value with CR, LF or NUL fails it too.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ringgate/aggregate/json.h"
#include "ringgate/config/aggregate.h"

namespace ringgate::aggregate {

enum class Target : uint8_t { kPath, kQuery, kHeader, kBody };

// A template with its JSON paths ready for json::Reader. Built once per shard from config.
class CompiledTemplate {
 public:
  // `action` is the one the template belongs to (for backend keys in messages). False (with
  // `why`) when a path does not parse as a json::Path.
  static bool compile(const AggregateTemplate& source, const AggregateAction& action,
                      CompiledTemplate* out, std::string* why);

  struct Piece {
    const TemplatePiece* piece = nullptr;
    json::Path path;   // kItem and kBackend
    std::string name;  // as messages name it: "id", "query.lang", "order.customerId", "item"
  };
  const std::vector<Piece>& pieces() const { return pieces_; }

 private:
  std::vector<Piece> pieces_;
};

// The values of one request, supplied by the engine.
class TemplateValues {
 public:
  // The route's path parameter number `index`, as received (percent-encoded).
  virtual std::string_view path_param(uint32_t index) = 0;
  // The first query parameter `name`'s value as received, or nullopt.
  virtual std::optional<std::string_view> query(std::string_view name) = 0;
  // The first header `lower_name`'s value, or nullopt.
  virtual std::optional<std::string_view> header(std::string_view lower_name) = 0;
  // The raw JSON at `path` in the current for_each element / in backend `index`'s body, or
  // nullopt when it is absent.
  virtual std::optional<std::string_view> item(const json::Path& path) = 0;
  virtual std::optional<std::string_view> backend(uint32_t index, const json::Path& path) = 0;
  // The value of the verified JWT's claim number `index` (of its issuer's rules.forward); empty
  // when the token has none.
  virtual std::string_view claim(uint32_t index) = 0;

 protected:
  ~TemplateValues() = default;
};

// Appends the rendered template to `out`. False with `why` (e.g. "order.customerId is absent",
// "customer is an object, not a value for a path") when it cannot be rendered; `out` then holds
// a partial rendering the caller discards.
bool render(const CompiledTemplate& t, Target target, TemplateValues& values, std::string& out,
            std::string* why);

// Percent-decodes %XX sequences (others are kept as they are); '+' stays '+'.
void percent_decode(std::string_view in, std::string& out);
// Percent-encodes every byte but the unreserved ones (ALPHA, DIGIT, '-', '.', '_', '~').
void percent_encode(std::string_view in, std::string& out);

}  // namespace ringgate::aggregate
