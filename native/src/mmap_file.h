// Read-only memory mapping of a whole file (checkpoint shards are read in place, never copied to the JS heap).
#pragma once
#include <cstddef>
#include <string>

namespace mimo {

struct Mapping {
  void* data;  // null for an empty file
  size_t size;
};

// Maps `path` PROT_READ, MAP_PRIVATE: the whole file, or with `length` > 0 the window [offset, offset + length)
// (offset a multiple of the page size, the window inside the file). On failure returns false and sets *error to
// "<what>: <strerror>" or what is wrong with the window.
bool mapFile(const std::string& path, Mapping* out, std::string* error, size_t offset = 0, size_t length = 0);
void unmapFile(const Mapping& m);

}  // namespace mimo
