// The C handle of one auth check (mtop_auth_request): shared by server.cpp, which makes it in
// the server's UserCheck, and auth_request.cpp, its getters and answers. Not installed.
#pragma once

#include <utility>

#include "mtop/codec.hpp"
#include "mtop/user_check.hpp"

// What the climber asked (a copy: the C++ request is valid only during check()) and the
// thread-safe answer slot. Owned by the application from the auth callback until answered.
struct mtop_auth_request {
  mtop_auth_request(const mtop::UserCheckRequest& r, mtop::UserCheckReply rep)
      : request(r), reply(std::move(rep)) {}
  mtop_auth_request(const mtop_auth_request&) = delete;
  mtop_auth_request& operator=(const mtop_auth_request&) = delete;
  ~mtop_auth_request() { mtop::secure_wipe(request.password); }

  mtop::UserCheckRequest request;
  mtop::UserCheckReply reply;  // destroyed unanswered = deny()
};
