#include "quic/reuseport_steering.hpp"

#include <linux/filter.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include "quic/connection.hpp"

namespace mtop::quic {

namespace {

constexpr std::uint32_t kShortHeaderByte = 1 + kWorkerCidByte;  // flags, DCID
constexpr std::uint32_t kLongHeaderByte = 6 + kWorkerCidByte;   // flags, version, length, DCID

}  // namespace

Result<void> attach_reuseport_steering(int fd, unsigned workers) {
  if (workers < 2) return {};
  // Offsets are from the start of the UDP payload (the kernel pulls the UDP header first).
  // A datagram too short for a load ends the program with 0: worker 0 gets it (and drops it).
  std::array<sock_filter, 7> program = {{
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),                 // A = first byte
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x80, 2, 0),      // long header? skip to 4
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kShortHeaderByte),  // A = DCID[kWorkerCidByte]
      BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0),                   // to 5
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, kLongHeaderByte),   // A = DCID[kWorkerCidByte]
      BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, workers),          // A %= workers
      BPF_STMT(BPF_RET | BPF_A, 0),                          // the socket's index
  }};
  sock_fprog prog{static_cast<unsigned short>(program.size()), program.data()};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) != 0) {
    return Failure{Errc::system_error,
                   std::string("SO_ATTACH_REUSEPORT_CBPF: ") + std::strerror(errno)};
  }
  return {};
}

}  // namespace mtop::quic
