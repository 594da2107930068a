#include "api/cert_watch.hpp"

#include <algorithm>
#include <utility>

namespace mtop {

namespace {

/// How long a change must be quiet before the pair is loaded: a writer puts the certificate
/// and the key down one after the other, within well under this.
constexpr std::uint64_t kSettleMs = 300;

}  // namespace

CertWatch::CertWatch(uv_loop_t* loop, std::vector<std::string> paths, std::uint64_t interval_ms,
                     std::function<void()> on_change)
    : paths_(std::move(paths)),
      interval_ms_(interval_ms),
      on_change_(std::move(on_change)),
      settle_(loop) {}

Result<std::unique_ptr<CertWatch>> CertWatch::start(uv_loop_t* loop, std::vector<std::string> paths,
                                                    std::uint64_t interval_ms,
                                                    std::function<void()> on_change) {
  if (!loop || interval_ms == 0 || !on_change) return Errc::invalid_argument;
  // The same file named twice (cert and key in one PEM) is watched once.
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  std::unique_ptr<CertWatch> w(
      new CertWatch(loop, std::move(paths), interval_ms, std::move(on_change)));
  for (const auto& path : w->paths_) {
    auto h = io::UvHandle<uv_fs_poll_t>::make();
    if (const int rc = uv_fs_poll_init(loop, h.get()); rc != 0) {
      h.release_uninitialised();
      return Failure{Errc::system_error, "watching " + path + ": " + uv_strerror(rc)};
    }
    h->data = w.get();
    const auto ms = static_cast<unsigned>(std::min<std::uint64_t>(interval_ms, 86'400'000));
    if (const int rc = uv_fs_poll_start(h.get(), &CertWatch::on_poll, path.c_str(), ms); rc != 0) {
      return Failure{Errc::system_error, "watching " + path + ": " + uv_strerror(rc)};
    }
    w->polls_.push_back(std::move(h));
  }
  return w;
}

void CertWatch::on_poll(uv_fs_poll_t* handle, int, const uv_stat_t*, const uv_stat_t*) {
  // Called when the stat result changes: content, inode, or the file appearing/vanishing
  // (status < 0). A vanished file is a change too; loading it then fails and waits for the
  // next one.
  if (auto* w = static_cast<CertWatch*>(handle->data)) w->changed();
}

void CertWatch::changed() {
  settle_.start(kSettleMs, [this] { on_change_(); });
}

}  // namespace mtop
