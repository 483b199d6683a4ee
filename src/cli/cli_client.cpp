#include "cli/cli_client.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

namespace rampart::cli {
namespace {

[[noreturn]] void throw_errno(int error, const std::string& what) {
    throw std::system_error(error, std::generic_category(), what);
}

}  // namespace

Client::Client(const std::string& socket_path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path.empty() || socket_path.size() >= sizeof addr.sun_path)
        throw_errno(ENAMETOOLONG, "cannot connect to " + socket_path);
    std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw_errno(errno, "cannot connect to " + socket_path);
    if (connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        int error = errno;
        close(fd_);
        fd_ = -1;
        throw_errno(error, "cannot connect to " + socket_path);
    }
}

Client::~Client() {
    if (fd_ >= 0) close(fd_);
}

Client::Client(Client&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), received_(std::move(other.received_)) {}

Client& Client::operator=(Client&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) close(fd_);
        fd_ = std::exchange(other.fd_, -1);
        received_ = std::move(other.received_);
    }
    return *this;
}

Reply Client::call(Verb verb, std::string_view line) {
    if (fd_ < 0) throw_errno(ENOTCONN, "not connected to rampartd");
    auto request = encode_request({verb, std::string(line)});
    if (!request)
        throw std::invalid_argument(
            fmt::format("a command may not contain a newline or exceed {} bytes", kMaxRequestLine));
    try {
        send_all(*request);
    } catch (const std::system_error&) {
        // rampartd may have refused the request and closed; its reply says why.
        return receive_reply();
    }
    return receive_reply();
}

std::vector<std::string> Client::complete(std::string_view line) {
    auto reply = call(Verb::complete, line);
    if (!reply.ok) return {};
    return decode_candidates(reply.text);
}

std::string Client::help(std::string_view line) { return call(Verb::help, line).text; }

void Client::send_all(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
        ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw_errno(errno, "cannot send to rampartd");
        sent += static_cast<size_t>(n);
    }
}

Reply Client::receive_reply() {
    for (;;) {
        auto decoded = decode_reply(received_);
        if (decoded.status == ReplyDecode::Status::complete) {
            received_.erase(0, decoded.consumed);
            return std::move(decoded.reply);
        }
        if (decoded.status == ReplyDecode::Status::malformed)
            throw std::runtime_error("malformed reply from rampartd: " + decoded.error);
        char buffer[65536];
        ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw_errno(errno, "cannot read from rampartd");
        if (n == 0) throw_errno(ECONNRESET, "rampartd closed the connection");
        received_.append(buffer, static_cast<size_t>(n));
    }
}

std::string error_text(std::string_view prefix, std::string_view text) {
    if (prefix.ends_with("% ") && text.starts_with("% ")) text.remove_prefix(2);
    return std::string(prefix) + std::string(text);
}

}  // namespace rampart::cli
