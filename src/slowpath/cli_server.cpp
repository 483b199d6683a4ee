#include "slowpath/cli_server.hpp"

#include <cerrno>
#include <cstring>
#include <system_error>

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.hpp"

namespace rampart {
namespace {

[[noreturn]] void throw_errno(int error, const std::string& what) {
    throw std::system_error(error, std::generic_category(), what);
}

sockaddr_un unix_address(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());  // size checked by the caller
    return addr;
}

// A connect() that succeeds, or finds the backlog full, means a live server.
bool someone_listens(const std::string& path) {
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe < 0) throw_errno(errno, "CLI socket probe");
    auto addr = unix_address(path);
    int rc = connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    int error = errno;
    close(probe);
    if (rc == 0 || error == EAGAIN || error == EINPROGRESS) return true;
    if (error == ECONNREFUSED) return false;
    throw_errno(error, "cannot probe CLI socket " + path);
}

void make_parent_directory(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos || slash == 0) return;
    auto parent = path.substr(0, slash);
    if (mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST)
        throw_errno(errno, "cannot create CLI socket directory " + parent);
}

}  // namespace

CliServer::CliServer(std::string path, Handler handler) : path_(std::move(path)), handler_(std::move(handler)) {
    try {
        open_listening_socket();
    } catch (...) {
        release();
        throw;
    }
    log::debug("CLI listening on {}", path_);
}

void CliServer::open_listening_socket() {
    if (path_.empty() || path_.size() >= sizeof(sockaddr_un::sun_path))
        throw_errno(ENAMETOOLONG, "CLI socket path '" + path_ + "'");
    make_parent_directory(path_);

    struct stat st{};
    if (lstat(path_.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) throw_errno(EEXIST, path_ + " exists and is not a socket");
        if (someone_listens(path_)) throw_errno(EADDRINUSE, "another rampartd is listening on " + path_);
        if (unlink(path_.c_str()) != 0 && errno != ENOENT) throw_errno(errno, "cannot remove stale " + path_);
    } else if (errno != ENOENT) {
        throw_errno(errno, "cannot stat " + path_);
    }

    listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw_errno(errno, "CLI socket");
    auto addr = unix_address(path_);
    if (bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        throw_errno(errno, "cannot bind CLI socket " + path_);
    if (stat(path_.c_str(), &st) == 0) socket_inode_ = st.st_ino;
    // Nobody can connect before listen(), so setting the mode here leaves no window.
    if (chmod(path_.c_str(), 0660) != 0) throw_errno(errno, "cannot chmod " + path_);
    if (listen(listen_fd_, 16) != 0) throw_errno(errno, "cannot listen on " + path_);

    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) throw_errno(errno, "CLI epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = listen_fd_;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev) != 0) throw_errno(errno, "CLI epoll_ctl");
}

void CliServer::release() noexcept {
    for (auto& [fd, client] : clients_) close(fd);
    clients_.clear();
    if (epoll_fd_ >= 0) close(epoll_fd_);
    if (listen_fd_ >= 0) close(listen_fd_);
    epoll_fd_ = listen_fd_ = -1;
    // A newer rampartd may already have replaced the file; leave its socket alone.
    struct stat st{};
    if (socket_inode_ != 0 && lstat(path_.c_str(), &st) == 0 && st.st_ino == socket_inode_) unlink(path_.c_str());
    socket_inode_ = 0;
}

CliServer::~CliServer() { release(); }

void CliServer::on_readable() {
    epoll_event events[32];
    int n = epoll_wait(epoll_fd_, events, 32, 0);
    for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == listen_fd_) {
            accept_clients();
            continue;
        }
        auto it = clients_.find(fd);
        if (it != clients_.end()) service(it->second, events[i].events);
    }
}

void CliServer::accept_clients() {
    for (;;) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) log::warn("CLI accept: {}", std::strerror(errno));
            return;
        }
        if (clients_.size() >= kMaxClients) {
            log::warn("CLI: refusing a session, {} already open", kMaxClients);
            refuse(fd);
            continue;
        }
        Client& client = clients_[fd];
        client.fd = fd;
        epoll_event ev{};
        ev.events = client.interest = EPOLLIN;
        ev.data.fd = fd;
        if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
            log::warn("CLI epoll_ctl: {}", std::strerror(errno));
            close(fd);
            clients_.erase(fd);
        }
    }
}

// Best effort: a fresh socket's send buffer always has room for this.
void CliServer::refuse(int fd) {
    auto reply = cli::encode_reply({false, "too many CLI sessions, try again later"});
    [[maybe_unused]] auto sent = send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    close(fd);
}

void CliServer::service(Client& client, uint32_t events) {
    if (events & EPOLLERR) client.broken = true;
    // After a hang-up, a write attempt is what tells a pending reply has nowhere to go.
    if (!client.broken && (events & (EPOLLOUT | EPOLLHUP))) flush(client);
    if (!client.broken && (events & (EPOLLIN | EPOLLHUP))) receive(client);
    if (!client.broken) answer(client);

    bool finished = client.broken || (client.closing && !client.output_pending());
    if (finished)
        close_client(client);
    else
        update_interest(client);
}

void CliServer::receive(Client& client) {
    // Stop at one byte past the longest allowed line: enough to tell it is too long.
    constexpr size_t kInputLimit = cli::kMaxRequestLine + 1;
    while (!client.peer_done && client.input.size() - client.input_used < kInputLimit) {
        char buffer[4096];
        size_t room = std::min(sizeof buffer, kInputLimit - (client.input.size() - client.input_used));
        ssize_t n = recv(client.fd, buffer, room, 0);
        if (n > 0) {
            client.input.append(buffer, static_cast<size_t>(n));
        } else if (n == 0) {
            client.peer_done = true;
        } else if (errno == EINTR) {
            continue;
        } else {
            if (errno != EAGAIN && errno != EWOULDBLOCK) client.broken = true;
            return;
        }
    }
}

// Answers complete requests one at a time; the next one waits until the
// previous reply is fully written, which bounds memory per client.
void CliServer::answer(Client& client) {
    while (!client.closing && !client.output_pending()) {
        std::string_view pending = std::string_view(client.input).substr(client.input_used);
        auto newline = pending.find('\n');
        std::string_view line;
        if (newline != std::string_view::npos) {
            line = pending.substr(0, newline);
            client.input_used += newline + 1;
        } else if (pending.size() > cli::kMaxRequestLine) {
            client.output = cli::encode_reply(
                {false, fmt::format("request line longer than {} bytes", cli::kMaxRequestLine)});
            client.closing = true;
            flush(client);
            return;
        } else if (client.peer_done) {
            // The client has finished; a last request without '\n' still counts.
            client.closing = true;
            if (pending.empty()) return;
            line = pending;
            client.input_used = client.input.size();
        } else {
            break;
        }
        client.output = cli::encode_reply(dispatch(line));
        client.output_sent = 0;
        flush(client);
        if (client.broken) return;
    }
    // Drop consumed requests so the buffer does not grow with the session.
    client.input.erase(0, client.input_used);
    client.input_used = 0;
}

void CliServer::flush(Client& client) {
    while (client.output_pending()) {
        ssize_t n = send(client.fd, client.output.data() + client.output_sent,
                         client.output.size() - client.output_sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            client.output_sent += static_cast<size_t>(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;  // EPOLLOUT will bring us back
        } else {
            client.broken = true;  // EPIPE/ECONNRESET: the client left mid-reply
            return;
        }
    }
    client.output.clear();
    client.output_sent = 0;
}

void CliServer::update_interest(Client& client) {
    uint32_t wanted = 0;
    if (client.output_pending())
        wanted = EPOLLOUT;
    else if (!client.peer_done && !client.closing)
        wanted = EPOLLIN;
    if (wanted == client.interest) return;
    epoll_event ev{};
    ev.events = wanted;
    ev.data.fd = client.fd;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, client.fd, &ev) != 0) {
        log::warn("CLI epoll_ctl: {}", std::strerror(errno));
        close_client(client);
        return;
    }
    client.interest = wanted;
}

void CliServer::close_client(Client& client) {
    int fd = client.fd;
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    close(fd);
    clients_.erase(fd);  // `client` dangles from here on
}

CliServer::Reply CliServer::dispatch(std::string_view request_line) {
    auto request = cli::decode_request_line(request_line);
    if (!request) return {false, "malformed request: expected 'exec', 'complete' or 'help' and a command line"};
    try {
        return handler_(*request);
    } catch (const std::exception& e) {
        log::error("CLI handler failed on '{}': {}", request->line, e.what());
        return {false, fmt::format("internal error: {}", e.what())};
    }
}

}  // namespace rampart
