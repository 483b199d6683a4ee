// The answer to one CLI line: whether it succeeded, and the text to show
// (errors and warnings are lines starting with "% ").
#pragma once

#include <string>

namespace rampart {

struct CommandResult {
    bool ok = true;
    std::string text;
};

}  // namespace rampart
