#include "password_input.hpp"

#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

namespace mtop::server {

namespace {

bool read_line_no_echo(const char* prompt, std::string& out) {
  std::fputs(prompt, stderr);
  std::fflush(stderr);
  termios old{};
  const bool tty = tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  const bool ok = static_cast<bool>(std::getline(std::cin, out));
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    std::fputs("\n", stderr);
  }
  return ok;
}

}  // namespace

bool read_new_password(std::string& password, std::string& error) {
  if (isatty(STDIN_FILENO)) {
    std::string again;
    if (!read_line_no_echo("New password: ", password) ||
        !read_line_no_echo("Repeat password: ", again)) {
      error = "no password given";
      return false;
    }
    if (password != again) {
      error = "the passwords do not match";
      return false;
    }
  } else if (!std::getline(std::cin, password)) {
    error = "no password on standard input";
    return false;
  }
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.empty()) {
    error = "the password is empty";
    return false;
  }
  if (password.size() > 255) {
    error = "the password is longer than 255 bytes (the wire format's limit)";
    return false;
  }
  return true;
}

}  // namespace mtop::server
