// The CLI server: serves rampart-cli over a Unix-domain stream socket from the
// control core's event loop, without threads and without ever blocking.
//
// Wire protocol: see common/cli_protocol.hpp. In short, one request per line
// ("exec <line>\n", "complete <line>\n", "help <line>\n") and one reply per
// request ("ok <nbytes>\n" or "err <nbytes>\n", then nbytes of text), in order.
//
// Event-loop integration: the server keeps its own epoll set holding the
// listening socket and every client, and exposes that epoll descriptor as
// fd(). It becomes readable whenever one of the sockets has work, so the
// control loop registers just fd() for EPOLLIN (level-triggered) and calls
// on_readable() when it fires. This works unchanged with a raw epoll loop or
// Boost.Asio (posix::stream_descriptor::async_wait on fd()).
//
//     CliServer cli("/run/rampart/rampartd.sock", [&](const CliServer::Request& r) { ... });
//     loop.watch(cli.fd(), [&] { cli.on_readable(); });
//
// Limits: a request line may be up to cli::kMaxRequestLine bytes; a longer one
// gets an error reply and the connection is closed. At most kMaxClients
// sessions; more are answered with an error and closed. A client that stops
// reading only stalls itself: its next requests are not read until its reply
// has been written. A client that disconnects mid-reply is simply dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

#include "common/cli_protocol.hpp"

namespace rampart {

class CliServer {
public:
    using Verb = cli::Verb;
    using Request = cli::Request;
    using Reply = cli::Reply;
    // Runs on the control core, once per request. An exception it throws
    // becomes an error reply.
    using Handler = std::function<Reply(const Request&)>;

    static constexpr size_t kMaxClients = 32;

    // Listens on `path` with mode 0660, creating its parent directory (0755)
    // if missing. A stale socket file left by a dead rampartd is replaced.
    // Throws std::system_error if another server accepts connections on
    // `path`, if `path` exists and is not a socket, or if a socket call fails.
    CliServer(std::string path, Handler handler);
    // Closes every session and removes the socket file (unless another
    // server has replaced it meanwhile).
    ~CliServer();
    CliServer(const CliServer&) = delete;
    CliServer& operator=(const CliServer&) = delete;

    int fd() const { return epoll_fd_; }
    // Accepts, reads, answers and writes whatever is ready; never blocks.
    void on_readable();

    const std::string& path() const { return path_; }
    size_t client_count() const { return clients_.size(); }

private:
    struct Client {
        int fd = -1;
        std::string input;       // received bytes; requests start at input_used
        size_t input_used = 0;
        std::string output;      // encoded replies; unsent part starts at output_sent
        size_t output_sent = 0;
        bool peer_done = false;  // the client will send nothing more
        bool closing = false;    // close once output is written
        bool broken = false;     // socket error: close now
        uint32_t interest = 0;   // events registered in the epoll set

        bool output_pending() const { return output_sent < output.size(); }
    };

    void open_listening_socket();
    void release() noexcept;
    void accept_clients();
    void refuse(int fd);
    void service(Client& client, uint32_t events);
    void receive(Client& client);
    void answer(Client& client);
    void flush(Client& client);
    void update_interest(Client& client);
    void close_client(Client& client);
    Reply dispatch(std::string_view request_line);

    std::string path_;
    Handler handler_;
    int listen_fd_ = -1;
    int epoll_fd_ = -1;
    uint64_t socket_inode_ = 0;  // to remove only our own socket file
    std::unordered_map<int, Client> clients_;
};

}  // namespace rampart
