// SiteFolder: what a request path may open — inside the folder only, no dot files, links
// followed only when they stay inside, index.html for directories.
#include <sys/stat.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "web/site_folder.hpp"

using mtop::web::SiteFolder;
namespace fs = std::filesystem;

namespace {

/// A temporary tree: site/ (served) and a secret file beside it.
struct Tree {
  fs::path dir;
  Tree() {
    char tmpl[] = "/tmp/mtop-site-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    dir = tmpl;
    fs::create_directories(dir / "site" / "docs");
    fs::create_directories(dir / "site" / "empty");
    fs::create_directories(dir / "site" / ".git");
    fs::create_directories(dir / "site" / ".well-known" / "acme-challenge");
    fs::create_directories(dir / "site2");
    write("site/index.html", "home");
    write("site/docs/index.html", "docs");
    write("site/docs/a b.txt", "spaced");
    write("site/.htpasswd", "hidden");
    write("site/.git/config", "git");
    write("site/.well-known/acme-challenge/tok", "token");
    write("site2/other.txt", "neighbour");
    write("secret.txt", "secret");
    fs::create_symlink("../secret.txt", dir / "site" / "leak.txt");
    fs::create_symlink(dir / "secret.txt", dir / "site" / "absolute-leak.txt");
    fs::create_symlink("..", dir / "site" / "up");
    fs::create_symlink("../site2", dir / "site" / "sibling");
    fs::create_symlink("docs/index.html", dir / "site" / "alias.html");
    fs::create_symlink(".git/config", dir / "site" / "gitconfig");
    REQUIRE(mkfifo((dir / "site" / "pipe").c_str(), 0600) == 0);
  }
  ~Tree() { fs::remove_all(dir); }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(dir / name) << text;
  }
};

std::string read_all(mtop::web::OpenFile& f) {
  REQUIRE(f.is_open());
  std::string out(f.size(), '\0');
  const int fd = f.release();
  REQUIRE(::pread(fd, out.data(), out.size(), 0) == static_cast<ssize_t>(out.size()));
  ::close(fd);
  return out;
}

}  // namespace

TEST_CASE("site folder: files and directory indexes inside the folder", "[web]") {
  Tree t;
  auto folder = SiteFolder::open((t.dir / "site").string());
  REQUIRE(folder);
  struct Case {
    const char* path;
    const char* body;
  };
  for (const Case c :
       {Case{"/", "home"}, Case{"/index.html", "home"}, Case{"/docs/", "docs"},
        Case{"//docs//index.html", "docs"}, Case{"/docs/a b.txt", "spaced"},
        Case{"/alias.html", "docs"},
        // A link that leaves and comes back: its real path is inside.
        Case{"/up/site/index.html", "home"}, Case{"/.well-known/acme-challenge/tok", "token"}}) {
    INFO(c.path);
    auto found = folder->lookup(c.path);
    REQUIRE(found.found == SiteFolder::Found::file);
    CHECK(read_all(found.file) == c.body);
  }
  auto alias = folder->lookup("/alias.html");
  CHECK(alias.file.path() == (fs::canonical(t.dir) / "site" / "docs" / "index.html").string());
  CHECK(alias.file.mtime() > 0);
  CHECK(folder->lookup("/docs").found == SiteFolder::Found::add_slash);
}

TEST_CASE("site folder: traversal, dot files, escaping links and odd files are not found",
          "[web]") {
  Tree t;
  auto folder = SiteFolder::open((t.dir / "site").string());
  REQUIRE(folder);
  for (const char* path :
       {"/../secret.txt", "/docs/../../secret.txt", "/docs/../index.html", "/./index.html", "/..",
        "/.htpasswd", "/.git/config", "/leak.txt", "/absolute-leak.txt", "/up/secret.txt",
        "/sibling/other.txt", "/gitconfig", "/pipe", "/empty/", "/missing", "/docs/missing/", "",
        "index.html", "/index.html/"}) {
    INFO(path);
    auto found = folder->lookup(path);
    CHECK(found.found == SiteFolder::Found::not_found);
    CHECK_FALSE(found.file.is_open());
  }
  CHECK(folder->lookup(std::string_view("/index.html\0.txt", 16)).found ==
        SiteFolder::Found::not_found);
}

TEST_CASE("site folder: opening checks the folder", "[web]") {
  Tree t;
  auto ok = SiteFolder::open((t.dir / "site" / ".." / "site").string());
  REQUIRE(ok);
  CHECK(ok->root() == (fs::canonical(t.dir) / "site").string());
  CHECK(ok->configured() == (t.dir / "site" / ".." / "site").string());
  auto missing = SiteFolder::open((t.dir / "nope").string());
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == mtop::Errc::config_invalid);
  CHECK_THAT(std::string(missing.message()), Catch::Contains("No such file"));
  auto file = SiteFolder::open((t.dir / "secret.txt").string());
  REQUIRE_FALSE(file);
  CHECK_THAT(std::string(file.message()), Catch::Contains("not a directory"));
  CHECK_FALSE(SiteFolder::open("/"));
  CHECK_FALSE(SiteFolder::open(""));
}
