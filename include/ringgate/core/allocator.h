#pragma once
// The process allocator (mimalloc, or the system's in sanitizer builds), as a shard sees it.

namespace ringgate {

// Gives the memory the calling thread's heap holds free back to the system. mimalloc returns
// freed memory after a short delay, but only when the thread next allocates in the same place: a
// shard that goes quiet after a burst would keep the burst's memory resident. Call it from a quiet
// shard's periodic timer, never per request (it walks the heap and makes system calls).
void release_free_memory();
// Whether release_free_memory() does anything (not in sanitizer builds: the system allocator).
bool releases_free_memory();

}  // namespace ringgate
