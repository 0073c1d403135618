#include "ringgate/core/allocator.h"

#ifdef RINGGATE_MIMALLOC
#include <mimalloc.h>
#endif

namespace ringgate {

void release_free_memory() {
#ifdef RINGGATE_MIMALLOC
  mi_collect(true);  // force: free pages are decommitted now, not at the next allocation
#endif
}

bool releases_free_memory() {
#ifdef RINGGATE_MIMALLOC
  return true;
#else
  return false;
#endif
}

}  // namespace ringgate
