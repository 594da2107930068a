// Test helpers for real database servers: temp folders, free loopback ports, and child
// processes we own by PID (started as a given system user, stopped by PID). Header-only so any
// test executable can use it without a library of its own. Failures throw std::runtime_error
// with a message that says what is missing, so a test fails loudly instead of passing.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace mtop::testdb {

inline std::string read_file(const std::string& path, std::size_t tail = 4000) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > tail ? s.substr(s.size() - tail) : s;
}

inline passwd system_user(const std::string& name) {
  passwd* pw = getpwnam(name.c_str());
  if (!pw)
    throw std::runtime_error("system user '" + name + "' does not exist: is the server package installed?");
  return *pw;
}

/// A fresh folder under /tmp owned by `owner`; removed with everything in it by the destructor.
class TempDir {
 public:
  TempDir(const std::string& prefix, const std::string& owner) {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed for " + tmpl);
    path_ = tmpl;
    passwd pw = system_user(owner);
    if (chown(path_.c_str(), pw.pw_uid, pw.pw_gid) != 0)
      throw std::runtime_error("cannot chown " + path_ + " to " + owner +
                               " (the database tests must run as root)");
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// A TCP port on 127.0.0.1 that the OS just handed out (bound to port 0, then released).
inline std::uint16_t free_loopback_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) close(fd);
    throw std::runtime_error("cannot get a free loopback port");
  }
  close(fd);
  return ntohs(a.sin_port);
}

/// Starts argv[0] (a full path) as `user` with stdout and stderr appended to `log`. As root the
/// child drops to the user itself (so the PID we hold is the server's own) and asks the
/// kernel to kill it if this test process dies first.
inline pid_t spawn_as(const std::string& user, const std::vector<std::string>& argv,
                      const std::string& log) {
  if (access(argv.at(0).c_str(), X_OK) != 0)
    throw std::runtime_error(argv[0] + " is not installed (needed by this test)");
  passwd pw = system_user(user);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    if (getuid() == 0 && (initgroups(pw.pw_name, pw.pw_gid) != 0 || setgid(pw.pw_gid) != 0 ||
                          setuid(pw.pw_uid) != 0))
      _exit(126);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(125);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

/// Waits up to `timeout` for `pid` to exit; true when it did (and was reaped).
inline bool wait_exit(pid_t pid, std::chrono::milliseconds timeout, int* status = nullptr) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  int st = 0;
  for (;;) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) {
      if (status) *status = st;
      return true;
    }
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

/// Runs a command to completion as `user` (runuser when we are root); throws with the log
/// when it fails or takes longer than two minutes.
inline void run_as(const std::string& user, const std::vector<std::string>& argv,
                   const std::string& log) {
  std::vector<std::string> full = argv;
  if (getuid() == 0 && user != "root") {
    full = {"/usr/sbin/runuser", "-u", user, "--"};
    full.insert(full.end(), argv.begin(), argv.end());
    if (access(argv.at(0).c_str(), X_OK) != 0)
      throw std::runtime_error(argv[0] + " is not installed (needed by this test)");
  }
  pid_t pid = spawn_as("root", full, log);
  int status = 0;
  if (!wait_exit(pid, std::chrono::minutes(2), &status)) {
    kill(pid, SIGKILL);
    wait_exit(pid, std::chrono::seconds(5));
    throw std::runtime_error(argv[0] + " did not finish; log:\n" + read_file(log));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error(argv[0] + " failed; log:\n" + read_file(log));
}

/// Sends `sig` to `pid` and waits for it to exit; SIGKILL after `grace`. No-op for pid <= 0.
inline void stop_pid(pid_t pid, int sig, std::chrono::milliseconds grace) {
  if (pid <= 0) return;
  kill(pid, sig);
  if (!wait_exit(pid, grace)) {
    kill(pid, SIGKILL);
    wait_exit(pid, std::chrono::seconds(10));
  }
}

}  // namespace mtop::testdb
