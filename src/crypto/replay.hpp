// ESP sequence numbers: the inbound anti-replay window and the outbound
// counter (RFC 4303 sections 3.3.3, 3.4.3 and Appendix A; extended sequence
// numbers per RFC 4304).
//
// Both objects live in per-worker SA state and run per packet: everything is
// noexcept, nothing allocates, and the common cases are a handful of integer
// operations. Only the owning worker mutates them; the control core may read
// OutboundSequence::sent() and soft_limit_reached() concurrently (relaxed
// loads of a counter the worker stores atomically).
//
// Inbound, in the order RFC 4303 section 3.4.3 prescribes:
//   1. v = window.check(esp_seq_low)   before the ICV: drop unless v.ok(),
//      v.seq_high is the inferred upper half the ICV covers under ESN;
//   2. verify the ICV with (v.seq_high, esp_seq_low);
//   3. window.accept(v.seq_high, esp_seq_low) only once it verified; it
//      re-checks (other packets of the burst may have moved the window since
//      step 1) and drops duplicates a second time if need be.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace rampart {

// Outcomes, named like the drop counters they feed.
#define RAMPART_REPLAY_RESULTS(_)                                                 \
    _(ok, "sequence number acceptable")                                         \
    _(replay_duplicate, "ESP sequence number already received (replay)")        \
    _(replay_too_old, "ESP sequence number below the anti-replay window")       \
    _(sequence_exhausted, "ESP sequence numbers exhausted: the SA needs a rekey")

enum class ReplayResult : uint8_t {
#define RAMPART_REPLAY_ENUM(name, text) name,
    RAMPART_REPLAY_RESULTS(RAMPART_REPLAY_ENUM)
#undef RAMPART_REPLAY_ENUM
};

inline constexpr unsigned kNumReplayResults = 0
#define RAMPART_REPLAY_COUNT(name, text) +1
    RAMPART_REPLAY_RESULTS(RAMPART_REPLAY_COUNT)
#undef RAMPART_REPLAY_COUNT
    ;

std::string_view replay_result_name(ReplayResult r) noexcept;  // "replay_duplicate"
std::string_view replay_result_text(ReplayResult r) noexcept;  // the sentence

// Per-SA (or per-worker) counters indexed by ReplayResult; ok counts passes.
struct ReplayCounters {
    uint64_t count[kNumReplayResults] = {};

    void add(ReplayResult r) noexcept { ++count[static_cast<unsigned>(r)]; }
    uint64_t operator[](ReplayResult r) const noexcept { return count[static_cast<unsigned>(r)]; }
};

struct ReplayVerdict {
    ReplayResult result;
    uint32_t seq_high;  // inferred upper 32 bits (ESN); always 0 without ESN

    constexpr bool ok() const noexcept { return result == ReplayResult::ok; }
};

class ReplayWindow {
public:
    static constexpr uint32_t kMinSize = 64;
    static constexpr uint32_t kMaxSize = 4096;
    static constexpr uint32_t kCapacityBits = kMaxSize;  // ring, indexed by seq mod 4096
    static constexpr uint32_t kWords = kCapacityBits / 64;

    // nullptr when `packets` is a valid window size (a multiple of 64 from 64
    // to 4096), otherwise why it is not.
    static constexpr const char* size_error(uint32_t packets) noexcept {
        if (packets < kMinSize) return "anti-replay window below 64 packets";
        if (packets > kMaxSize) return "anti-replay window above 4096 packets";
        if (packets % 64 != 0) return "anti-replay window is not a multiple of 64 packets";
        return nullptr;
    }
    static std::optional<ReplayWindow> create(uint32_t packets, bool esn) noexcept;

    // A fresh 64-packet window without ESN; reconfigure with create().
    constexpr ReplayWindow() noexcept = default;

    // Before integrity verification; no state change.
    ReplayVerdict check(uint32_t seq_low) const noexcept {
        const uint64_t x = infer(seq_low);
        return {classify(x), static_cast<uint32_t>(x >> 32)};
    }

    // After successful integrity verification of (seq_high, seq_low): re-checks
    // against the current state and, when ok, records the packet and advances
    // the window. Without ESN seq_high is ignored.
    ReplayResult accept(uint32_t seq_high, uint32_t seq_low) noexcept {
        const uint64_t x = esn_ ? (uint64_t{seq_high} << 32 | seq_low) : seq_low;
        if (x > top_) [[likely]] {
            advance(x);
            return ReplayResult::ok;
        }
        if (top_ - x >= min_window_top()) return ReplayResult::replay_too_old;
        uint64_t& w = bits_[word_of(x)];
        const uint64_t m = mask_of(x);
        if (w & m) return ReplayResult::replay_duplicate;
        w |= m;
        return ReplayResult::ok;
    }

    uint32_t size() const noexcept { return size_; }
    bool esn() const noexcept { return esn_; }
    // Highest authenticated sequence number (full 64 bits under ESN); 0 before
    // the first packet.
    uint64_t highest() const noexcept { return top_; }
    // Lowest sequence number still inside the window (never below 1).
    uint64_t lowest_valid() const noexcept { return top_ < size_ ? 1 : top_ - size_ + 1; }

    void reset() noexcept {
        top_ = 0;
        std::memset(bits_, 0, sizeof bits_);
    }

private:
    constexpr ReplayWindow(uint32_t packets, bool esn) noexcept : size_(packets), esn_(esn) {}

    // The full sequence number: without ESN the low half itself; with ESN the
    // unique value congruent to seq_low (mod 2^32) in [B, B + 2^32 - 1] where
    // B = T - W + 1 is the window's bottom. That is RFC 4303 Appendix A2.2
    // (case A: Seqh = Th or Th + 1; case B, the window spanning a 2^32
    // boundary: Seqh = Th - 1 or Th) in one subtraction. Near the start
    // (T < W - 1) B wraps below zero and so may the result; classify() then
    // reports such "sequence numbers before 1" as too old. Under ESN a packet
    // below the window is therefore inferred to be ahead, in the next epoch,
    // and fails the ICV (RFC 4303 A2.2): it is counted as an integrity
    // failure, not as replay_too_old; accept() still says too old should an
    // authenticated number below the window reach it.
    uint64_t infer(uint32_t seq_low) const noexcept {
        if (!esn_) return seq_low;
        const uint64_t bottom = top_ - size_ + 1;
        return bottom + static_cast<uint32_t>(seq_low - static_cast<uint32_t>(bottom));
    }

    ReplayResult classify(uint64_t x) const noexcept {
        // Ahead of the window; the second test rejects an ESN value that
        // wrapped below zero (it is then 2^64 - k, far "ahead").
        if (x > top_ && x - top_ <= 0xffffffffull) [[likely]]
            return ReplayResult::ok;
        // top_ - x < min(W, T) <=> x inside the window and x >= 1, which also
        // catches sequence number 0 and the wrapped-below-zero ESN values.
        if (top_ - x >= min_window_top()) return ReplayResult::replay_too_old;
        return (bits_[word_of(x)] & mask_of(x)) ? ReplayResult::replay_duplicate
                                                : ReplayResult::ok;
    }

    uint64_t min_window_top() const noexcept { return top_ < size_ ? top_ : size_; }

    static uint32_t word_of(uint64_t x) noexcept { return (x / 64) % kWords; }
    static uint64_t mask_of(uint64_t x) noexcept { return uint64_t{1} << (x % 64); }

    // x > top_: the sequence numbers in (top_, x) were never received, so
    // clear their ring positions (they still hold bits of numbers that are
    // now below the window), mark x, make it the top. Only the last W - 1 of
    // them can be inside the new window; positions of the others are cleared
    // when a later advance passes over them again, before they can be
    // consulted, so the work is bounded by the window size whatever the jump.
    // In-order traffic (x == top_ + 1) only sets one bit.
    void advance(uint64_t x) noexcept {
        const uint64_t gap = x - top_ - 1;
        const uint32_t n = static_cast<uint32_t>(gap < size_ - 1 ? gap : size_ - 1);
        if (n) clear_range(x - n, n);
        bits_[word_of(x)] |= mask_of(x);
        top_ = x;
    }

    // Clears the ring positions of sequence numbers first .. first + n - 1
    // (n < kCapacityBits).
    void clear_range(uint64_t first, uint32_t n) noexcept {
        uint32_t pos = static_cast<uint32_t>(first % kCapacityBits);
        while (n) {
            const uint32_t off = pos % 64;
            const uint32_t take = n < 64 - off ? n : 64 - off;
            const uint64_t ones = take == 64 ? ~0ull : (uint64_t{1} << take) - 1;
            bits_[pos / 64] &= ~(ones << off);
            pos = (pos + take) % kCapacityBits;
            n -= take;
        }
    }

    uint64_t top_ = 0;  // T: highest authenticated sequence number
    uint32_t size_ = kMinSize;  // W
    bool esn_ = false;
    uint64_t bits_[kWords] = {};  // bit (s mod 4096) set <=> s received, for s in window
};

class OutboundSequence {
public:
    static constexpr uint64_t kMax32 = 0xffffffffull;
    static constexpr uint64_t kMax64 = ~0ull;
    // Default soft thresholds: 2^32 - 2^16 packets without ESN, 2^64 - 2^32
    // with it.
    static constexpr uint64_t default_soft_limit(bool esn) noexcept {
        return esn ? 0 - (uint64_t{1} << 32) : (uint64_t{1} << 32) - (uint64_t{1} << 16);
    }

    // soft_limit: once this many packets have been sent (sequence numbers
    // start at 1, so this is also the last sequence number used),
    // soft_limit_reached() turns true so the control core can rekey.
    constexpr explicit OutboundSequence(bool esn) noexcept
        : OutboundSequence(esn, default_soft_limit(esn)) {}
    constexpr OutboundSequence(bool esn, uint64_t soft_limit) noexcept
        : max_(esn ? kMax64 : kMax32), soft_(soft_limit) {}

    // For tests and SA migration: the next call to next() returns next_seq
    // (>= 1; next_seq past the maximum gives an exhausted counter).
    static constexpr OutboundSequence starting_at(bool esn, uint64_t next_seq,
                                                  uint64_t soft_limit) noexcept {
        OutboundSequence s(esn, soft_limit);
        if (next_seq == 0) next_seq = 1;
        s.last_ = next_seq - 1 > s.max_ ? s.max_ : next_seq - 1;
        return s;
    }
    static constexpr OutboundSequence starting_at(bool esn, uint64_t next_seq) noexcept {
        return starting_at(esn, next_seq, default_soft_limit(esn));
    }

    // The full sequence number for the next packet (its low 32 bits go on the
    // wire; under ESN the high half enters the ICV), or nullopt once the space
    // is used up: the SA never wraps (RFC 4303 3.3.3) and must be replaced.
    std::optional<uint64_t> next() noexcept {
        const uint64_t last = last_;
        if (last == max_) [[unlikely]]
            return std::nullopt;
        __atomic_store_n(&last_, last + 1, __ATOMIC_RELAXED);
        return last + 1;
    }

    // Packets sent so far == the last sequence number used. Safe from any core.
    uint64_t sent() const noexcept { return __atomic_load_n(&last_, __ATOMIC_RELAXED); }
    bool exhausted() const noexcept { return sent() == max_; }
    bool soft_limit_reached() const noexcept { return sent() >= soft_; }
    uint64_t soft_limit() const noexcept { return soft_; }
    uint64_t max() const noexcept { return max_; }
    bool esn() const noexcept { return max_ == kMax64; }

private:
    uint64_t last_ = 0;
    uint64_t max_;
    uint64_t soft_;
};

}  // namespace rampart
