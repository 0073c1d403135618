#pragma once
// Versions of ringgate and of the libraries it runs with.

#include <string>

namespace ringgate {

// One line per component: "ringgate 0.1.0", "liburing 2.3", ...
std::string version_report();
// True when mimalloc is the process allocator (malloc'd memory lies in a mimalloc heap).
bool mimalloc_active();

}  // namespace ringgate
