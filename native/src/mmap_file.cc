#include "mmap_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mimo {

bool mapFile(const std::string& path, Mapping* out, std::string* error, size_t offset, size_t length) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = std::string("cannot open: ") + std::strerror(errno);
    return false;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    *error = std::string("cannot stat: ") + std::strerror(errno);
    close(fd);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    *error = "not a regular file";
    close(fd);
    return false;
  }
  const size_t fileSize = static_cast<size_t>(st.st_size);
  if (length > 0) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    if (offset % page != 0 || offset > fileSize || length > fileSize - offset) {
      *error = "window [" + std::to_string(offset) + ", " + std::to_string(offset + length) + ") is not page-aligned or not inside the " +
               std::to_string(fileSize) + "-byte file";
      close(fd);
      return false;
    }
  } else {
    offset = 0;
    length = fileSize;
  }
  out->size = length;
  out->data = nullptr;
  if (out->size > 0) {
    void* p = mmap(nullptr, out->size, PROT_READ, MAP_PRIVATE, fd, static_cast<off_t>(offset));
    if (p == MAP_FAILED) {
      *error = std::string("cannot mmap: ") + std::strerror(errno);
      close(fd);
      return false;
    }
    out->data = p;
  }
  close(fd);  // the mapping keeps the file referenced
  return true;
}

void unmapFile(const Mapping& m) {
  if (m.data != nullptr) munmap(m.data, m.size);
}

}  // namespace mimo
