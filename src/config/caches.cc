// The `caches:` section (named response caches, each a byte budget for the whole process) and a
// route's `cache:` that uses one. Which cache a route names, and whether the route can key on
// a consumer, is for validate() to check.

#include "config/sections.h"

namespace ringgate::config_detail {
namespace {

constexpr uint64_t kMinCacheMemory = 64 * kKiB;
constexpr uint64_t kMaxCacheMemory = 1 * kTiB;
constexpr uint64_t kMaxObject = 1 * kGiB;
constexpr size_t kMaxKeyItems = 16;

CacheConfig load_cache(const Loader& loader, const Field& f, std::string name,
                       const YAML::Mark& key) {
  const Section s(loader, f, {"memory", "max_object", "debug_header"});
  CacheConfig c;
  c.name = std::move(name);
  c.mark = loader.source_mark(key);
  if (const Field* v = s.find("memory")) {
    c.memory = loader.read_size(*v, kMinCacheMemory, kMaxCacheMemory);
  }
  if (const Field* v = s.find("max_object")) {
    c.max_object = loader.read_size(*v, 1, kMaxObject);
  }
  if (c.max_object > c.memory) {
    const Field* v = s.find("max_object");
    loader.fail(v ? *v : f, "max_object (" + format_size(c.max_object) +
                                ") is larger than the cache's memory (" + format_size(c.memory) +
                                "): no object of that size could be stored");
  }
  if (const Field* v = s.find("debug_header")) {
    c.debug_header = loader.read_bool(*v);
  }
  return c;
}

std::vector<std::string> load_names(const Loader& loader, const Field& f, bool lower,
                                    const char* what) {
  std::vector<std::string> names;
  if (f.node.IsSequence() && f.node.size() == 0) {
    return names;
  }
  for (const Field& item : loader.list_or_one(f, "")) {
    std::string name = loader.read_string(item);
    if (name.empty() || (lower && !is_token(name)) ||
        name.find_first_of("&=#? \t") != std::string::npos) {
      loader.fail(item, std::string("not a ") + what + ": " + quote(name));
    }
    names.push_back(lower ? ascii_lower(name) : name);
  }
  if (names.size() > kMaxKeyItems) {
    loader.fail(f, "at most " + std::to_string(kMaxKeyItems) + " names");
  }
  return names;
}

}  // namespace

void load_caches(const Loader& loader, const Field& f, std::vector<CacheConfig>& caches,
                 References& refs) {
  if (f.node.IsNull()) {
    return;
  }
  if (!f.node.IsMap()) {
    refs.caches.all = true;
    loader.recover([&] {
      loader.fail(f, "expected a map of cache names to caches, got " + Loader::describe(f.node));
    });
    return;
  }
  for (auto it = f.node.begin(); it != f.node.end(); ++it) {
    const YAML::Node key = it->first;
    const std::string name = key.IsScalar() ? key.Scalar() : "";
    const bool loaded = loader.recover([&] {
      if (!is_cluster_name(name)) {
        loader.fail_at(key.Mark(), f.path + ": cache name " + quote(name) + " must be 1 to " +
                                       std::to_string(kMaxClusterName) +
                                       " characters: letters, digits, '_', '.' and '-'");
      }
      for (const CacheConfig& earlier : caches) {
        if (earlier.name == name) {
          loader.fail_at(key.Mark(), f.path + ": duplicate cache " + quote(name) +
                                         " (first at line " + std::to_string(earlier.mark.line) +
                                         ")");
        }
      }
      caches.push_back(
          load_cache(loader, Loader::child(f, name, key, it->second), name, key.Mark()));
    });
    if (!loaded) {
      refs.caches.names.push_back(name);
    }
  }
}

void load_route_cache(const Loader& loader, const Field& f, RouteConfig& route, RouteRefs& refs) {
  const Section s(loader, f,
                  {"use", "key", "default_ttl", "stale_while_revalidate", "stale_if_error",
                   "lock_timeout", "authorization", "set_cookie", "debug_header"});
  RouteCacheConfig c;
  const Field* use = s.find("use");
  if (use) {
    c.use = loader.read_string(*use);
  }
  refs.cache = NameRef{use ? *use : f, c.use};
  if (const Field* key = s.find("key")) {
    const Section k(loader, *key, {"query", "headers", "consumer"});
    if (const Field* v = k.find("query")) {
      c.query_all = false;
      c.query = load_names(loader, *v, false, "query parameter name");
    }
    if (const Field* v = k.find("headers")) {
      c.headers = load_names(loader, *v, true, "header name");
    }
    if (const Field* v = k.find("consumer")) {
      c.consumer = loader.read_bool(*v);
    }
  }
  if (const Field* v = s.find("default_ttl")) {
    c.default_ttl = loader.read_duration_or_off(*v, kOneSecond, 365 * 24 * kOneHour);
  }
  if (const Field* v = s.find("stale_while_revalidate")) {
    c.stale_while_revalidate = loader.read_duration_or_off(*v, kOneSecond, 24 * kOneHour);
  }
  if (const Field* v = s.find("stale_if_error")) {
    c.stale_if_error = loader.read_duration_or_off(*v, kOneSecond, 7 * 24 * kOneHour);
  }
  if (const Field* v = s.find("lock_timeout")) {
    c.lock_timeout = loader.read_duration_or_off(*v, kMinTimeout, kOneMinute);
  }
  if (const Field* v = s.find("authorization")) {
    c.authorization = loader.read_bool(*v);
  }
  if (const Field* v = s.find("set_cookie")) {
    c.set_cookie = loader.read_bool(*v);
  }
  if (const Field* v = s.find("debug_header")) {
    c.debug_header = loader.read_bool(*v);
  }
  route.cache = std::move(c);
}

}  // namespace ringgate::config_detail
