// The `admin:` section: where /healthz and /metrics listen. Whether its address clashes with a
// server listener is checked by validate(), which sees both sections.

#include "config/sections.h"

namespace ringgate::config_detail {
namespace {

class AdminLoader : public Loader {
 public:
  explicit AdminLoader(const Loader& loader) : Loader(loader) {}

  bool load(const Field& f, AdminConfig& admin) const;
};

bool AdminLoader::load(const Field& f, AdminConfig& admin) const {
  const Section s(*this, f, {"listen", "enabled"});
  admin.mark = source_mark(f.mark);
  if (const Field* v = s.find("enabled")) {
    admin.enabled = read_bool(*v);
  }
  if (const Field* v = s.find("listen")) {
    admin.listen = read_address(*v);
    admin.mark = source_mark(v->mark);
    return true;
  }
  return false;
}

}  // namespace

bool load_admin(const Loader& loader, const Field& f, AdminConfig& admin) {
  return AdminLoader(loader).load(f, admin);
}

}  // namespace ringgate::config_detail
