// The CLI wire protocol: the pure codec, then a real CliServer on a temporary
// socket driven by the client code rampart-cli uses.
#include <catch2/catch.hpp>

#include <chrono>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include "cli/cli_client.hpp"
#include "common/cli_protocol.hpp"
#include "common/command.hpp"
#include "slowpath/cli_server.hpp"

using namespace rampart;
using namespace rampart::cli;

// ---------------------------------------------------------------------------
// Codec
// ---------------------------------------------------------------------------

TEST_CASE("requests round trip through the codec", "[cli][codec]") {
    const Request requests[] = {
        {Verb::exec, "show version"},
        {Verb::exec, ""},
        {Verb::complete, "interface port0 "},  // the trailing space matters
        {Verb::complete, ""},
        {Verb::help, "  show  route "},
        {Verb::exec, "interface port0 description \"a \\\"b\\\"\""},
    };
    for (const auto& request : requests) {
        auto encoded = encode_request(request);
        REQUIRE(encoded);
        REQUIRE(encoded->back() == '\n');
        auto decoded = decode_request_line(std::string_view(*encoded).substr(0, encoded->size() - 1));
        REQUIRE(decoded);
        CHECK(*decoded == request);
    }
    CHECK(*encode_request({Verb::help, "show"}) == "help show\n");
}

TEST_CASE("request lines are checked", "[cli][codec]") {
    CHECK(decode_request_line("complete") == Request{Verb::complete, ""});
    CHECK(decode_request_line("exec") == Request{Verb::exec, ""});
    CHECK_FALSE(decode_request_line(""));
    CHECK_FALSE(decode_request_line("bogus show version"));
    CHECK_FALSE(decode_request_line("EXEC show version"));
    CHECK_FALSE(decode_request_line(" exec show version"));
    CHECK_FALSE(decode_request_line("execute show version"));

    CHECK_FALSE(encode_request({Verb::exec, "show version\nclear counters"}));
    CHECK_FALSE(encode_request({Verb::exec, std::string(kMaxRequestLine, 'x')}));
    CHECK(encode_request({Verb::exec, std::string(kMaxRequestLine - 5, 'x')}));
}

TEST_CASE("replies round trip through the codec", "[cli][codec]") {
    const Reply replies[] = {
        {true, ""},
        {true, "rampart 0.1.0\n"},
        {false, "unknown token 'adress'"},
        {true, std::string("bin\0ary\nok 3\n", 14)},
    };
    for (const auto& reply : replies) {
        auto encoded = encode_reply(reply);
        auto decoded = decode_reply(encoded);
        REQUIRE(decoded.status == ReplyDecode::Status::complete);
        CHECK(decoded.reply == reply);
        CHECK(decoded.consumed == encoded.size());

        // Any proper prefix is only the start of a reply.
        for (size_t n = 0; n < encoded.size(); ++n) {
            INFO("prefix of " << n << " bytes");
            CHECK(decode_reply(std::string_view(encoded).substr(0, n)).status == ReplyDecode::Status::incomplete);
        }
    }
    CHECK(encode_reply({false, "bad"}) == "err 3\nbad");

    // Back-to-back replies are taken one at a time.
    auto two = encode_reply({true, "first"}) + encode_reply({false, "second"});
    auto first = decode_reply(two);
    REQUIRE(first.status == ReplyDecode::Status::complete);
    CHECK(first.reply == Reply{true, "first"});
    auto second = decode_reply(std::string_view(two).substr(first.consumed));
    REQUIRE(second.status == ReplyDecode::Status::complete);
    CHECK(second.reply == Reply{false, "second"});
}

TEST_CASE("malformed reply headers are refused", "[cli][codec]") {
    const char* malformed[] = {
        "ok -5\n",         // negative
        "ok +5\n",         // sign
        "ok 5hello",       // no newline after the length
        "ok 5 \nhello",    // junk after the length
        "ok 0x10\n",       // not decimal
        "ok \n",           // no length
        "ok\n",            // no length
        "err5\n",          // no space
        "OK 5\nhello",     // wrong case
        "hello",           // not a header at all
        "ok 99999999999",  // more digits than any allowed length, before the newline arrives
        "ok 4294967296\n", // above kMaxReplyBytes
        "ok 268435457\n",  // kMaxReplyBytes + 1
    };
    for (const char* text : malformed) {
        INFO(text);
        auto decoded = decode_reply(text);
        CHECK(decoded.status == ReplyDecode::Status::malformed);
        CHECK_FALSE(decoded.error.empty());
    }
    CHECK(decode_reply("ok 5").status == ReplyDecode::Status::incomplete);
    CHECK(decode_reply("err").status == ReplyDecode::Status::incomplete);
    CHECK(decode_reply("ok 268435456\n").status == ReplyDecode::Status::incomplete);  // exactly the limit
}

TEST_CASE("completion candidates travel one per line", "[cli][codec]") {
    std::vector<std::string> candidates = {"port0", "port1", "uplink"};
    CHECK(encode_candidates(candidates) == "port0\nport1\nuplink\n");
    CHECK(decode_candidates(encode_candidates(candidates)) == candidates);
    CHECK(decode_candidates("").empty());
    CHECK(decode_candidates("a\n\nb") == std::vector<std::string>{"a", "b"});
}

// ---------------------------------------------------------------------------
// Socket level
// ---------------------------------------------------------------------------

namespace {

class TempDir {
public:
    TempDir() {
        char pattern[] = "/tmp/rampart-cli-test-XXXXXX";
        REQUIRE(mkdtemp(pattern) != nullptr);
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

Reply test_handler(const Request& request) {
    switch (request.verb) {
        case Verb::exec: {
            if (request.line == "crash") throw std::runtime_error("boom");
            if (request.line.starts_with("big ")) return {true, std::string(std::stoul(request.line.substr(4)), 'x')};
            auto parsed = cmd::parse(request.line);
            if (auto* error = std::get_if<cmd::ParseError>(&parsed)) return {false, error->message};
            return {true, "did: " + std::get<cmd::Parsed>(parsed).line + "\n"};
        }
        case Verb::complete:
            return {true, encode_candidates(cmd::complete(request.line, [] {
                        return std::vector<std::string>{"port0", "port1"};
                    }))};
        case Verb::help: return {true, cmd::help(request.line)};
    }
    return {false, "unknown verb"};
}

// A CliServer run by a minimal epoll loop on its own thread, the way the
// control core runs it: only fd() is watched, on_readable() does the rest.
class ServerThread {
public:
    // "exec sessions" answers the server's session count; the rest goes to `handler`.
    explicit ServerThread(const std::string& path, CliServer::Handler handler = test_handler)
        : server_(path,
                  [this, handler](const Request& r) {
                      if (r.verb == Verb::exec && r.line == "sessions")
                          return Reply{true, std::to_string(server_.client_count())};
                      return handler(r);
                  }),
          stop_fd_(eventfd(0, EFD_CLOEXEC)) {
        REQUIRE(stop_fd_ >= 0);
        thread_ = std::thread([this] { loop(); });
    }
    ~ServerThread() {
        uint64_t one = 1;
        [[maybe_unused]] auto n = write(stop_fd_, &one, sizeof one);
        thread_.join();
        close(stop_fd_);
    }

private:
    void loop() {
        int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        for (int fd : {server_.fd(), stop_fd_}) {
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.fd = fd;
            epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
        }
        for (bool running = true; running;) {
            epoll_event events[2];
            int n = epoll_wait(epoll_fd, events, 2, -1);
            for (int i = 0; i < n; ++i) {
                if (events[i].data.fd == stop_fd_)
                    running = false;
                else
                    server_.on_readable();
            }
        }
        close(epoll_fd);
    }

    CliServer server_;
    int stop_fd_;
    std::thread thread_;
};

int raw_connect(const std::string& path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    REQUIRE(connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    return fd;
}

void raw_send(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) return;  // the server may close on us; the reply says why
        bytes.remove_prefix(static_cast<size_t>(n));
    }
}

// Everything the server sends until it closes the connection.
std::string raw_read_all(int fd) {
    std::string all;
    char buffer[4096];
    for (;;) {
        ssize_t n = recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) return all;
        all.append(buffer, static_cast<size_t>(n));
    }
}

std::vector<Reply> decode_all(std::string_view bytes) {
    std::vector<Reply> replies;
    for (;;) {
        auto decoded = decode_reply(bytes);
        if (decoded.status != ReplyDecode::Status::complete) return replies;
        replies.push_back(decoded.reply);
        bytes.remove_prefix(decoded.consumed);
    }
}

}  // namespace

TEST_CASE("a client execs, completes and asks for help", "[cli][socket]") {
    TempDir dir;
    auto path = dir.file("rampartd.sock");
    ServerThread server(path);

    Client client(path);
    CHECK(client.exec("show   version") == Reply{true, "did: show version\n"});
    CHECK(client.exec("interface port0 adress 10.0.0.1/24") ==
          Reply{false, "unknown token 'adress': expected one of: device, vlan, address, mtu, shutdown, description, neighbor, "
                      "mpls, vrf, mac, sav, sav-role"});
    CHECK(client.complete("interface po") == std::vector<std::string>{"port0", "port1"});
    CHECK_THAT(client.help("show version "), Catch::Contains("<cr>"));
    CHECK(client.exec("crash") == Reply{false, "internal error: boom"});
    CHECK(client.exec("show workers").ok);  // still serving after the handler threw

    // Bigger than any socket buffer: the server has to wait for EPOLLOUT.
    auto big = client.exec("big 3000000");
    CHECK(big.ok);
    CHECK(big.text.size() == 3000000);

    CHECK_THROWS_AS(client.exec("show version\nshow workers"), std::invalid_argument);
}

TEST_CASE("the socket file is set up and cleaned up", "[cli][socket]") {
    TempDir dir;
    auto path = dir.file("sub/rampartd.sock");  // the parent directory is created
    {
        ServerThread server(path);
        struct stat st{};
        REQUIRE(lstat(path.c_str(), &st) == 0);
        CHECK(S_ISSOCK(st.st_mode));
        CHECK((st.st_mode & 0777) == 0660);

        // A second daemon must not steal the socket of a live one.
        try {
            CliServer second(path, test_handler);
            FAIL("a second server started on a live socket");
        } catch (const std::system_error& e) {
            CHECK(e.code().value() == EADDRINUSE);
            CHECK_THAT(e.what(), Catch::Contains("another rampartd is listening on " + path));
        }
        CHECK(Client(path).exec("show version").ok);  // the first one is unharmed
    }
    struct stat st{};
    CHECK(lstat(path.c_str(), &st) != 0);  // removed on shutdown
}

TEST_CASE("a stale socket is replaced but other files are not", "[cli][socket]") {
    TempDir dir;
    auto path = dir.file("rampartd.sock");
    {
        // What a crashed rampartd leaves behind: a bound socket nobody listens on.
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        path.copy(addr.sun_path, sizeof addr.sun_path - 1);
        REQUIRE(bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
        close(fd);
    }
    {
        ServerThread server(path);
        CHECK(Client(path).exec("show version").ok);
    }

    auto regular = dir.file("not-a-socket");
    std::ofstream(regular) << "precious\n";
    CHECK_THROWS_AS(CliServer(regular, test_handler), std::system_error);
    CHECK(std::filesystem::file_size(regular) == 9);

    CHECK_THROWS_AS(CliServer(dir.file(std::string(200, 'x')), test_handler), std::system_error);
}

TEST_CASE("connecting to no daemon gives a clear error", "[cli][socket]") {
    TempDir dir;
    auto path = dir.file("nobody.sock");
    try {
        Client client(path);
        FAIL("connected to nothing");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == ENOENT);
        CHECK(std::string(e.what()) == "cannot connect to " + path + ": No such file or directory");
    }
}

TEST_CASE("many clients are served independently", "[cli][socket]") {
    TempDir dir;
    auto path = dir.file("rampartd.sock");
    ServerThread server(path);

    std::vector<Client> clients;
    for (int i = 0; i < 10; ++i) clients.emplace_back(path);
    for (int round = 0; round < 3; ++round)
        for (size_t i = 0; i < clients.size(); ++i) {
            auto line = fmt::format("interface port{} mtu {}", i, 1000 + round);
            CHECK(clients[i].exec(line) == Reply{true, "did: " + line + "\n"});
        }

    // Sessions above the limit are told so and closed.
    std::vector<Client> more;
    for (size_t i = clients.size(); i < CliServer::kMaxClients; ++i) {
        more.emplace_back(path);
        REQUIRE(more.back().exec("show version").ok);  // accepted by now
    }
    int extra = raw_connect(path);
    auto refused = decode_all(raw_read_all(extra));
    close(extra);
    REQUIRE(refused.size() == 1);
    CHECK_FALSE(refused[0].ok);
    CHECK_THAT(refused[0].text, Catch::Contains("too many CLI sessions"));

    // Once a session ends its slot is free again (the server may see the
    // hang-up just after the new connection, hence the retries).
    more.pop_back();
    bool served = false;
    for (int attempt = 0; attempt < 100 && !served; ++attempt) {
        served = Client(path).exec("show version").ok;
        if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(served);
}

TEST_CASE("pipelined and unterminated requests", "[cli][socket]") {
    TempDir dir;
    auto path = dir.file("rampartd.sock");
    ServerThread server(path);

    int fd = raw_connect(path);
    raw_send(fd, "exec show version\nbogus\nhelp show \nexec clear counters");  // the last has no '\n'
    shutdown(fd, SHUT_WR);  // end of requests: the unterminated one still counts
    auto replies = decode_all(raw_read_all(fd));
    close(fd);
    REQUIRE(replies.size() == 4);
    CHECK(replies[0] == Reply{true, "did: show version\n"});
    CHECK_FALSE(replies[1].ok);
    CHECK_THAT(replies[1].text, Catch::StartsWith("malformed request"));
    CHECK_THAT(replies[2].text, Catch::Contains("interfaces"));
    CHECK(replies[3] == Reply{true, "did: clear counters\n"});
}

TEST_CASE("an over-long request line is refused and the session closed", "[cli][socket]") {
    TempDir dir;
    auto path = dir.file("rampartd.sock");
    ServerThread server(path);

    int fd = raw_connect(path);
    raw_send(fd, "exec " + std::string(kMaxRequestLine + 100, 'a'));
    auto replies = decode_all(raw_read_all(fd));  // returns at EOF: the server closed
    close(fd);
    REQUIRE(replies.size() == 1);
    CHECK(replies[0] == Reply{false, "request line longer than 65536 bytes"});

    // A line of exactly the maximum length is still accepted.
    Client client(path);
    auto longest = "interface port0 description " + std::string(kMaxRequestLine - 5 - 28, 'd');
    CHECK(client.exec(longest).ok);
}

TEST_CASE("a client leaving mid-reply does not disturb the server", "[cli][socket]") {
    TempDir dir;
    auto path = dir.file("rampartd.sock");
    ServerThread server(path);

    for (int i = 0; i < 3; ++i) {
        int fd = raw_connect(path);
        raw_send(fd, "exec big 8000000\n");
        char some[100];
        [[maybe_unused]] auto n = recv(fd, some, sizeof some, 0);  // the reply has started
        close(fd);
    }
    Client client(path);
    CHECK(client.exec("show version") == Reply{true, "did: show version\n"});

    // Their sessions are gone, not leaked (hang-ups may be seen a moment later).
    std::string sessions;
    for (int attempt = 0; attempt < 100 && sessions != "1"; ++attempt) {
        sessions = client.exec("sessions").text;
        if (sessions != "1") std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(sessions == "1");
}

TEST_CASE("rampart-cli prints one '% ' before an error, never '% % '", "[cli]") {
    // rampartd's errors start with "% " already (the interactive shell's prefix).
    CHECK(error_text("% ", "% unknown interface port9\n") == "% unknown interface port9\n");
    CHECK(error_text("% ", "cannot send a line with a newline") == "% cannot send a line with a newline");
    CHECK(error_text("rampart-cli: line 3: ", "% unknown vrf blue\n") == "rampart-cli: line 3: % unknown vrf blue\n");
    // And a parse error from the real grammar through a CLI server reply.
    auto parsed = cmd::parse("interface port0 adress 10.0.0.1/24");
    REQUIRE(std::holds_alternative<cmd::ParseError>(parsed));
    const std::string reply = "% " + std::get<cmd::ParseError>(parsed).message + "\n";
    CHECK(error_text("% ", reply).find("% %") == std::string::npos);
    CHECK(error_text("% ", reply).starts_with("% unknown token 'adress'"));
}
