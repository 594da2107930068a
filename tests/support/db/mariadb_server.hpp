// A real MariaDB 10.11 for one test executable: mariadb-install-db into a temp folder owned by
// `mysql`, mariadbd on a free loopback port (socket in the temp folder), then over the socket
// as root: a database `mtop` and a user with a password that the tests use over TCP. The
// destructor stops the server by PID and removes the folder; kill_now()/start() restart it on
// the same port and data.
#pragma once

#include <mysql.h>

#include <string>

#include "process.hpp"

namespace mtop::testdb {

class MariadbServer {
 public:
  static constexpr const char* kServer = "/usr/sbin/mariadbd";
  static constexpr const char* kInstall = "/usr/bin/mariadb-install-db";

  MariadbServer() : dir_("mtop-my", "mysql"), port_(free_loopback_port()) {
    for (const char* bin : {kServer, kInstall})
      if (access(bin, X_OK) != 0)
        throw std::runtime_error(std::string("MariaDB is not installed (") + bin +
                                 " missing): install the 'mariadb-server' package to run these tests");
    run_as("root",
           {kInstall, "--no-defaults", "--user=mysql", "--datadir=" + data(),
            "--auth-root-authentication-method=normal", "--skip-test-db"},
           dir_.path() + "/install.log");
    start();
    for (const char* sql : {"CREATE DATABASE mtop",
                            "CREATE USER 'mtop'@'127.0.0.1' IDENTIFIED BY 'my-test-secret'",
                            "GRANT ALL ON mtop.* TO 'mtop'@'127.0.0.1'"})
      exec_root(sql);
  }
  ~MariadbServer() { stop(); }
  MariadbServer(const MariadbServer&) = delete;
  MariadbServer& operator=(const MariadbServer&) = delete;

  void start() {
    if (pid_ > 0) return;
    std::error_code ec;
    std::filesystem::remove(socket_path(), ec);  // left behind by a killed server
    pid_ = spawn_as("mysql",
                    {kServer, "--no-defaults", "--datadir=" + data(),
                     "--port=" + std::to_string(port_), "--bind-address=127.0.0.1",
                     "--socket=" + socket_path(), "--pid-file=" + dir_.path() + "/pid",
                     "--log-error=" + log(), "--skip-name-resolve", "--skip-log-bin",
                     "--innodb-buffer-pool-size=32M", "--max-connections=40"},
                    log());
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      if (std::filesystem::exists(socket_path()) && try_connect()) return;
      if (wait_exit(pid_, std::chrono::milliseconds(0))) {
        pid_ = -1;
        throw std::runtime_error("mariadbd exited at start; log:\n" + read_file(log()));
      }
      if (std::chrono::steady_clock::now() > end) {
        stop();
        throw std::runtime_error("mariadbd did not start in 60 s; log:\n" + read_file(log()));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  /// SIGKILL by PID: the server is gone at once, as in a crash.
  void kill_now() {
    stop_pid(pid_, SIGKILL, std::chrono::seconds(10));
    pid_ = -1;
  }
  /// Clean shutdown by PID (SIGTERM).
  void stop() {
    stop_pid(pid_, SIGTERM, std::chrono::seconds(30));
    pid_ = -1;
  }

  std::uint16_t port() const { return port_; }
  std::string uri() const {
    return "mysql://mtop:my-test-secret@127.0.0.1:" + std::to_string(port_) + "/mtop";
  }
  pid_t pid() const { return pid_; }

 private:
  std::string data() const { return dir_.path() + "/data"; }
  std::string log() const { return dir_.path() + "/server.log"; }
  std::string socket_path() const { return dir_.path() + "/sock"; }

  bool try_connect() {
    MYSQL* m = mysql_init(nullptr);
    bool ok = mysql_real_connect(m, nullptr, "root", "", nullptr, 0, socket_path().c_str(), 0);
    mysql_close(m);
    return ok;
  }

  void exec_root(const std::string& sql) {
    MYSQL* m = mysql_init(nullptr);
    std::string err;
    if (!mysql_real_connect(m, nullptr, "root", "", nullptr, 0, socket_path().c_str(), 0) ||
        mysql_query(m, sql.c_str()) != 0)
      err = mysql_error(m);
    mysql_close(m);
    if (!err.empty()) throw std::runtime_error("MariaDB fixture: " + sql + ": " + err);
  }

  TempDir dir_;
  std::uint16_t port_;
  pid_t pid_ = -1;
};

}  // namespace mtop::testdb
