// atomic_file.h: writing a file so that readers see the old version or the
// new one, never a part: the bytes go to a hidden temporary file in the same
// folder (rename is atomic only within one file system), which is fsynced,
// closed and renamed over the target; the folder is then fsynced so that the
// rename itself survives a power cut.  An error, or an exception before
// commit(), removes the temporary and leaves the old file untouched.
#pragma once
#include <cstddef>
#include <string>

namespace eng::nn {

class AtomicFile {
public:
    explicit AtomicFile(const std::string& path);  // creates the temporary (throws if it cannot)
    ~AtomicFile();                                 // not committed: closes and removes the temporary
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    void write(const void* data, size_t n);  // all n bytes (retries short writes and EINTR)
    void commit();                           // fsync, close, rename over the path, fsync the folder

private:
    std::string path_, tmp_;
    int fd_ = -1;
};

// The folder holding `path` ("." for a bare name, "/" for a file at the root).
std::string folder_of(const std::string& path);

// The whole file in one call.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Removes the temporaries that writers killed mid-write left in `dir` (named
// .<file>.tmp<pid>_<n>, whose process <pid> no longer runs); returns how many.
int remove_stale_temporaries(const std::string& dir);

}  // namespace eng::nn
