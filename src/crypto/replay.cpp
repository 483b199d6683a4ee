// ESP anti-replay window and outbound sequence numbers: the per-packet code is
// inline in replay.hpp; this file holds the control-plane pieces.
#include "crypto/replay.hpp"

namespace rampart {

namespace {

struct ResultInfo {
    std::string_view name;
    std::string_view text;
};

constexpr ResultInfo kResultInfo[kNumReplayResults] = {
#define RAMPART_REPLAY_INFO(name, text) {#name, text},
    RAMPART_REPLAY_RESULTS(RAMPART_REPLAY_INFO)
#undef RAMPART_REPLAY_INFO
};

}  // namespace

std::string_view replay_result_name(ReplayResult r) noexcept {
    const auto i = static_cast<unsigned>(r);
    return i < kNumReplayResults ? kResultInfo[i].name : std::string_view{"unknown"};
}

std::string_view replay_result_text(ReplayResult r) noexcept {
    const auto i = static_cast<unsigned>(r);
    return i < kNumReplayResults ? kResultInfo[i].text : std::string_view{"unknown"};
}

std::optional<ReplayWindow> ReplayWindow::create(uint32_t packets, bool esn) noexcept {
    if (size_error(packets)) return std::nullopt;
    return ReplayWindow(packets, esn);
}

}  // namespace rampart
