// atomic_file.cpp: the temporary-fsync-rename write of atomic_file.h, and the
// clean-up of temporaries that a killed writer left behind.
#include "nn/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "tensor/check.h"

namespace eng::nn {

std::string folder_of(const std::string& path) {
    size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
}

namespace {

// ".<base>.tmp<pid>_<n>" beside path: hidden, so a crash leaves no file that
// looks like the real one, and unique within and across processes.
std::string temporary_for(const std::string& path) {
    static std::atomic<unsigned> counter{0};
    size_t slash = path.find_last_of('/');
    std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    std::string dir_prefix = slash == std::string::npos ? "" : path.substr(0, slash + 1);
    return dir_prefix + "." + base + ".tmp" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
}

// The pid of a temporary's name, or 0 when the name is not one of ours.
long temporary_pid(const std::string& name) {
    if (name.size() < 2 || name[0] != '.') return 0;
    size_t at = name.rfind(".tmp");
    if (at == std::string::npos || at == 0) return 0;
    size_t under = name.find('_', at + 4);
    if (under == std::string::npos || under == at + 4 || under + 1 == name.size()) return 0;
    auto digits = [&](size_t from, size_t to) {
        return std::all_of(name.begin() + long(from), name.begin() + long(to), [](char c) { return c >= '0' && c <= '9'; });
    };
    if (!digits(at + 4, under) || !digits(under + 1, name.size()) || under - (at + 4) > 9) return 0;
    return std::stol(name.substr(at + 4, under - (at + 4)));
}

}  // namespace

AtomicFile::AtomicFile(const std::string& path) : path_(path), tmp_(temporary_for(path)) {
    ENG_CHECK(!path.empty() && path.back() != '/', "write '", path, "': not a file path");
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    ENG_CHECK(fd_ >= 0, "cannot create '", tmp_, "': ", std::strerror(errno), ". HINT: does the folder '",
              folder_of(path), "' exist and is it writable?");
}

AtomicFile::~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!tmp_.empty()) ::unlink(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
    ENG_CHECK(fd_ >= 0, "write '", path_, "': the file is already committed");
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
        ssize_t w = ::write(fd_, p, std::min<size_t>(n, size_t(1) << 30));
        if (w < 0 && errno == EINTR) continue;
        ENG_CHECK(w > 0, "writing '", tmp_, "' failed: ", std::strerror(errno), ". HINT: is the disk full?");
        p += w;
        n -= size_t(w);
    }
}

void AtomicFile::commit() {
    ENG_CHECK(fd_ >= 0, "write '", path_, "': the file is already committed");
    ENG_CHECK(::fsync(fd_) == 0, "fsync of '", tmp_, "' failed: ", std::strerror(errno));
    const int rc = ::close(fd_);
    fd_ = -1;
    ENG_CHECK(rc == 0, "closing '", tmp_, "' failed: ", std::strerror(errno));
    ENG_CHECK(::rename(tmp_.c_str(), path_.c_str()) == 0, "cannot rename '", tmp_, "' to '", path_, "': ",
              std::strerror(errno));
    tmp_.clear();  // renamed: nothing to remove
    // Make the rename itself durable (best effort: some file systems refuse).
    int dfd = ::open(folder_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)::fsync(dfd);
        ::close(dfd);
    }
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
    AtomicFile f(path);
    f.write(bytes.data(), bytes.size());
    f.commit();
}

int remove_stale_temporaries(const std::string& dir) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return 0;
    int removed = 0;
    while (const dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        const long pid = temporary_pid(name);
        // kill(pid, 0) fails with ESRCH only when no such process exists: a
        // running writer's temporary (another run in the same folder) stays.
        if (pid > 0 && ::kill(pid_t(pid), 0) != 0 && errno == ESRCH && ::unlink((dir + "/" + name).c_str()) == 0)
            ++removed;
    }
    ::closedir(d);
    return removed;
}

}  // namespace eng::nn
