// Reuseport steering: how a multi-worker server's QUIC sockets on one port, each a worker's,
// get every datagram of a connection to the worker that owns it.
//
// The workers' UDP sockets share the port through SO_REUSEPORT; by itself the kernel picks a
// socket by a hash of the addresses, so a client whose address changes (NAT rebinding, a
// migration) would land on another worker, which knows nothing of its connection. Every
// connection ID a worker issues carries its index at kWorkerCidByte (ConnectionOwner::mark_cid),
// and a classic BPF program attached to the group (SO_ATTACH_REUSEPORT_CBPF) picks the socket
// from that byte of the destination connection ID: at offset 1 + kWorkerCidByte of a short
// header, 6 + kWorkerCidByte of a long one (flags, version, DCID length, DCID). The result
// is taken modulo the number of workers, so a client's first Initial, whose DCID it chose at
// random, goes to some worker (the same one for its retransmissions), which then issues IDs
// naming itself. The group's sockets are numbered in the order they were bound: worker i's
// socket must be the i-th bound.
#pragma once

#include "mtop/result.hpp"

namespace mtop::quic {

/// Attaches the steering program for `workers` (>= 2) to the reuseport group of `fd`.
/// Errors: system_error with the reason (a kernel without SO_ATTACH_REUSEPORT_CBPF).
Result<void> attach_reuseport_steering(int fd, unsigned workers);

}  // namespace mtop::quic
