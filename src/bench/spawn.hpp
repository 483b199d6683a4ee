// Starting a reference tool (dpdk-testpmd, dpdk-test-crypto-perf) with its
// output captured, shared by the reference runners.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

extern char** environ;

namespace rampart::bench {

// Starts `args` (args[0] is the program's path) with stdin from /dev/null and
// stdout and stderr into one pipe. Returns the pipe's read end (the caller
// closes it and reaps `pid`), or -1 with `error` set.
inline int spawn_piped(std::vector<std::string>& args, pid_t& pid, std::string& error) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
        error = "pipe failed";
        return -1;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDERR_FILENO);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = posix_spawn(&pid, args[0].c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    if (rc != 0) {
        close(out[0]);
        error = fmt::format("cannot start {}: {}", args[0], strerror(rc));
        return -1;
    }
    return out[0];
}

}  // namespace rampart::bench
