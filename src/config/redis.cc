// The `redis:` section: the server that `backend: redis` rate limits share across gateway nodes.
// Its timeout must be shorter than the request timeout of `server:`, which validate() checks
// once both are parsed.

#include "config/sections.h"

namespace ringgate::config_detail {
namespace {

class RedisLoader : public Loader {
 public:
  explicit RedisLoader(const Loader& loader) : Loader(loader) {}

  void load(const Field& f, RedisConfig& redis, References& refs) const;
};

void RedisLoader::load(const Field& f, RedisConfig& redis, References& refs) const {
  const Section s(*this, f, {"address", "password", "database", "timeout", "retry", "key_prefix"});
  redis.enabled = true;
  redis.mark = source_mark(f.mark);
  const Field* address = s.find("address");
  if (!address) {
    fail(f, "missing 'address' (e.g. address: \"127.0.0.1:6379\")");
  }
  redis.address = read_address(*address);
  if (const Field* v = s.find("password")) {
    redis.password = read_string(*v);
  }
  if (const Field* v = s.find("database")) {
    redis.database = static_cast<uint32_t>(read_number(*v, 0, 1000000));
  }
  const Field* timeout = s.find("timeout");
  if (timeout) {
    redis.timeout = read_duration(*timeout, kMinTimeout, Duration{10000});
  }
  refs.redis_timeout = timeout ? *timeout : f;  // checked against the request timeout later
  if (const Field* v = s.find("retry")) {
    redis.retry = read_duration(*v, Duration{10}, Duration{600000});
  }
  if (const Field* v = s.find("key_prefix")) {
    redis.key_prefix = read_string(*v);
    if (redis.key_prefix.size() > 200) {
      fail(*v, "key_prefix is longer than 200 bytes");
    }
  }
}

}  // namespace

void load_redis(const Loader& loader, const Field& f, RedisConfig& redis, References& refs) {
  RedisLoader(loader).load(f, redis, refs);
}

}  // namespace ringgate::config_detail
