// Read-only memory mapping of a whole file (checkpoint shards are read in place, never copied to the JS heap).
#pragma once
#include <cstddef>
#include <string>

namespace mimo {

struct Mapping {
  void* data;  // null for an empty file
  size_t size;
};

// Maps `path` PROT_READ, MAP_PRIVATE. On failure returns false and sets *error to "<what>: <strerror>".
bool mapFile(const std::string& path, Mapping* out, std::string* error);
void unmapFile(const Mapping& m);

}  // namespace mimo
