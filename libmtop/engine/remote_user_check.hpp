// RemoteUserCheck: a worker's view of the server's one user check. With `workers` > 1 the
// user check (the built-in store or the program's own) stays on the loop the Server was
// created on, as its contract says (check() is called on that loop); every other worker's
// engine asks through this adapter, which carries the request there (io::LoopMailbox). The
// reply is thread-safe already and goes straight back to the asking engine's inbox.
//
// When the check keeps accounts (the built-in stores, account_source.hpp) the adapter keeps
// them too, through the same store: look-ups for the re-check go to the owner's loop and
// their answers come back to the worker's; usage is summed here under a mutex and handed to
// the store in batches (one hand-off while the owner has not taken the last one), so a busy
// relay does not post a function per chunk. Its counters() are zero: the store's counters
// are the owner's, counted once by the Server.
//
// Lives on the worker's loop; check() and the store calls on that thread.
#pragma once

#include <memory>

#include "engine/account_source.hpp"
#include "mtop/user_check.hpp"
#include "uv/loop_mailbox.hpp"

namespace mtop {

/// An adapter for `check` (which lives on the loop behind `owner`), used on the loop behind
/// `self`. It is an AccountSource exactly when `check` is one.
std::shared_ptr<UserCheck> make_remote_user_check(std::shared_ptr<UserCheck> check,
                                                  io::LoopMailbox::Sender owner,
                                                  io::LoopMailbox::Sender self);

}  // namespace mtop
