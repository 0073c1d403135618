#pragma once
// The parser of the `aggregate:` route action, shared by the three files that read it:
// aggregate.cc (the action, its backends and profiles), aggregate_template.cc (templates and
// their placeholders) and aggregate_json.cc (dotted paths, projections and `default:` values).
// The engine gets everything compiled at load (see ringgate/config/aggregate.h), which makes
// this the largest part of the config; each file reads one of its small languages.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/sections.h"
#include "ringgate/config/aggregate.h"

namespace ringgate::config_detail {

// The most elements an array in a backend's body may hold (limits.elements).
constexpr uint32_t kMaxAggregateElements = 10000000;

// Backend keys, profile names and the members of dotted paths: what can follow a '.' in a
// placeholder without quoting.
bool is_name_char(char c);
bool is_name(std::string_view text, size_t max_size);
// A query parameter name as `{query.NAME}` and `select: query:NAME` read it.
bool is_query_name(std::string_view name);
// Steps of a dotted path after its first name: ".a", "[3]", "[*]" (each position of a `[*]` goes
// to `each`). Returns what is wrong, if anything.
std::optional<std::string> parse_path_steps(std::string_view text, std::vector<JsonPathStep>& steps,
                                            std::vector<size_t>& each);

class AggregateLoader : public Loader {
 public:
  explicit AggregateLoader(const Loader& loader) : Loader(loader) {}

  RouteAction load(const Field& f, const RouteMatch& match, RouteRefs& refs) const;

 private:
  struct TemplateScope;
  struct BackendRefs;
  enum class TemplateUse : uint8_t { kPath, kQuery, kHeader, kBody };

  // aggregate.cc
  void load_backends(const Field& f, const RouteMatch& match, const Section& aggregate,
                     AggregateAction& action, RouteRefs& route_refs) const;
  // `scope` arrives with the keys and `self` set; for_each is filled in here.
  AggregateBackend load_backend(const Section& s, TemplateScope scope, const Section& aggregate,
                                const AggregateAction& action, BackendRefs& refs) const;
  void load_backend_request(const Section& s, const TemplateScope& scope, BackendRefs& refs,
                            bool method_given, AggregateBackend& b) const;
  void load_backend_answer(const Section& s, const Section& aggregate,
                           const AggregateAction& action, bool for_each, AggregateBackend& b) const;
  void load_backend_params(const Field& f, TemplateUse use, const TemplateScope& scope,
                           BackendRefs& refs, std::vector<AggregateParam>& out) const;
  AggregateForEach load_for_each(const Field& f, const TemplateScope& scope,
                                 BackendRefs& refs) const;
  std::vector<std::string> load_response_headers(const Field& f) const;
  // aggregate_cache_control.cc
  void load_cache_control(const Field& f, AggregateAction& action) const;
  void load_profiles(const Field& f, AggregateAction& action) const;
  // `keys` are the backends' keys, in order.
  AggregateProfile load_profile(const Field& value, const std::string& name,
                                const AggregateAction& action,
                                const std::vector<std::string_view>& keys) const;
  AggregateProfiles::Select load_profile_select(const Field& f, std::string& name) const;

  // aggregate_template.cc
  AggregateTemplate load_template(const Field& f, TemplateUse use, const TemplateScope& scope,
                                  BackendRefs& refs) const;
  TemplatePiece load_placeholder(const Field& f, std::string_view content,
                                 const TemplateScope& scope, BackendRefs& refs) const;

  // aggregate_json.cc
  // A standalone dotted path: pick's ("a.b[0]", "[0].a"), or with `filter` allow's and deny's
  // ("a[*].b": [*] at most once, no [N]).
  JsonPath load_json_path(const Field& f, std::string_view text, bool filter) const;
  // pick, allow, deny and rename of a backend or of a profile's override. `base` is what an
  // override changes (nullptr for a backend's own); `merge` is the backend's.
  AggregateProjection load_projection(const Section& s, const AggregateProjection* base,
                                      bool merge) const;
  // `fields` (when given) gets the field of each path, for messages.
  std::vector<JsonPath> load_path_list(const Field& f, std::vector<Field>* fields) const;
  std::vector<MemberRename> load_renames(const Field& f) const;
  // `default:` as JSON text.
  void append_json(const Field& f, std::string& out) const;
  void append_json_string(const Field& f, std::string_view text, std::string& out) const;
};

struct AggregateLoader::TemplateScope {
  RouteMatch::Kind match_kind = RouteMatch::Kind::kExact;
  std::vector<std::string> params;  // the route's path parameters, left to right
  std::vector<std::string> keys;    // every backend's key, in order
  uint32_t self = 0;                // the backend whose templates these are
  bool for_each = false;            // it has for_each, so {item} is defined

  std::string other_keys() const {
    std::vector<std::string_view> others;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (i != self) {
        others.push_back(keys[i]);
      }
    }
    return others.empty() ? "none" : join(others);
  }
};

// The backends one backend reads, each with the first field that reads it (where a cycle
// through it is reported), and the claims it reads.
struct AggregateLoader::BackendRefs {
  std::vector<std::pair<uint32_t, Field>> reads;
  bool uses_item = false;
  std::vector<NameRef> claims;  // {claim.NAME} placeholders, in order

  void add(uint32_t backend, const Field& f) {
    for (const auto& read : reads) {
      if (read.first == backend) {
        return;
      }
    }
    reads.emplace_back(backend, f);
  }
};

}  // namespace ringgate::config_detail
