// A real PostgreSQL 15 for one test executable: initdb into a temp folder as `postgres`
// (scram-sha-256, password from a file only postgres can read), the server on a free loopback
// port with its socket in the temp folder, a database `mtop`. The destructor stops the server
// by PID and removes the folder; stop()/start() restart it on the same port and data.
#pragma once

#include <libpq-fe.h>

#include <string>

#include "process.hpp"

namespace mtop::testdb {

class PostgresServer {
 public:
  static constexpr const char* kBin = "/usr/lib/postgresql/15/bin";

  PostgresServer() : dir_("mtop-pg", "postgres"), port_(free_loopback_port()) {
    if (access((std::string(kBin) + "/postgres").c_str(), X_OK) != 0)
      throw std::runtime_error(
          "PostgreSQL 15 is not installed (" + std::string(kBin) +
          "/postgres missing): install the 'postgresql' package to run these tests");
    const std::string pwfile = dir_.path() + "/pwfile";
    {
      std::ofstream(pwfile) << password() << "\n";
    }
    passwd pw = system_user("postgres");
    if (chown(pwfile.c_str(), pw.pw_uid, pw.pw_gid) != 0 || chmod(pwfile.c_str(), 0600) != 0)
      throw std::runtime_error("cannot hand " + pwfile + " to postgres");
    run_as("postgres",
           {std::string(kBin) + "/initdb", "-D", data(), "-A", "scram-sha-256",
            "--pwfile=" + pwfile, "-U", "admin", "--no-sync"},
           dir_.path() + "/initdb.log");
    start();
    exec_admin("postgres", "CREATE DATABASE mtop");
  }
  ~PostgresServer() { stop(); }
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  void start() {
    if (pid_ > 0) return;
    pid_ = spawn_as("postgres",
                    {std::string(kBin) + "/postgres", "-D", data(), "-p", std::to_string(port_),
                     "-k", dir_.path(), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                     "-c", "max_connections=40"},
                    log());
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    const std::string probe = conninfo("postgres");
    while (PQping(probe.c_str()) != PQPING_OK) {
      int status = 0;
      if (wait_exit(pid_, std::chrono::milliseconds(0), &status)) {
        pid_ = -1;
        throw std::runtime_error("postgres exited at start; log:\n" + read_file(log()));
      }
      if (std::chrono::steady_clock::now() > end) {
        stop();
        throw std::runtime_error("postgres did not accept connections in 30 s; log:\n" +
                                 read_file(log()));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  /// Immediate shutdown by PID (SIGQUIT): sessions are cut as if the server had crashed.
  void kill_now() {
    stop_pid(pid_, SIGQUIT, std::chrono::seconds(10));
    pid_ = -1;
  }
  /// Fast shutdown by PID (SIGINT).
  void stop() {
    stop_pid(pid_, SIGINT, std::chrono::seconds(20));
    pid_ = -1;
  }

  std::string conninfo(const std::string& db = "mtop") const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " user=admin password=" + password() +
           " dbname=" + db + " connect_timeout=5";
  }
  pid_t pid() const { return pid_; }

  /// Runs `sql` (one statement or a script) as the admin user on database `db`; throws
  /// std::runtime_error with the server's message if it fails.
  void exec_admin(const std::string& db, const std::string& sql) {
    PGconn* c = PQconnectdb(conninfo(db).c_str());
    std::string err;
    if (PQstatus(c) != CONNECTION_OK) {
      err = PQerrorMessage(c);
    } else {
      PGresult* r = PQexec(c, sql.c_str());
      if (PQresultStatus(r) != PGRES_COMMAND_OK) err = PQerrorMessage(c);
      PQclear(r);
    }
    PQfinish(c);
    if (!err.empty()) throw std::runtime_error("PostgreSQL fixture: " + sql + ": " + err);
  }

 private:
  static std::string password() { return "pg-test-secret"; }
  std::string data() const { return dir_.path() + "/data"; }
  std::string log() const { return dir_.path() + "/server.log"; }

  TempDir dir_;
  std::uint16_t port_;
  pid_t pid_ = -1;
};

}  // namespace mtop::testdb
