// The incoming label map (ILM) the workers read: the whole 20-bit label
// space as one flat array (8 MB), so a lookup is one load. An entry packs the
// next-hop group (what to do: swap, pop, pop-and-lookup, drop) and the
// per-worker counter slot of the label. Also the label range accepted on the
// wire and the RFC 3443 TTL model. One writer (the control core, through
// ForwardingTables); entries are single atomic words, so a reader sees an
// old or a new entry, never half of one; the group an entry names is
// retired through RCU by ForwardingTables.
#pragma once

#include <atomic>
#include <cstdint>

#include "fastpath/limits.hpp"

namespace rampart {

class IlmTable {
public:
    IlmTable();  // throws std::runtime_error when the map cannot be allocated
    ~IlmTable();
    IlmTable(const IlmTable&) = delete;
    IlmTable& operator=(const IlmTable&) = delete;

    // ---- reader side (workers) ----
    struct Hit {
        uint32_t group;    // next-hop group index
        uint32_t counter;  // per-worker label counter slot
    };
    bool lookup(uint32_t label, Hit& hit) const {
        const uint64_t v = map_[label & (kLabelSpace - 1)].load(std::memory_order_acquire);
        if (!v) return false;
        hit.group = uint32_t(v) - 1;
        hit.counter = uint32_t(v >> 32);
        return true;
    }
    // Labels accepted on the wire (reserved labels 0-15 are handled by value).
    bool in_range(uint32_t label) const {
        return label >= lo_.load(std::memory_order_relaxed) && label <= hi_.load(std::memory_order_relaxed);
    }
    // RFC 3443: pipe (the LSP hides its hops: labels start at 255, the IP TTL
    // is left alone) or uniform (the label TTL is the packet's TTL).
    bool ttl_pipe() const { return ttl_pipe_.load(std::memory_order_relaxed); }

    // ---- writer side (control core only) ----
    void set(uint32_t label, uint32_t group, uint32_t counter);
    void clear(uint32_t label);
    void set_range(uint32_t lo, uint32_t hi) {
        lo_.store(lo, std::memory_order_relaxed);
        hi_.store(hi, std::memory_order_relaxed);
    }
    void set_ttl_pipe(bool pipe) { ttl_pipe_.store(pipe, std::memory_order_relaxed); }

private:
    std::atomic<uint64_t>* map_ = nullptr;  // [kLabelSpace]: (counter slot << 32) | (group + 1); 0 = no entry
    std::atomic<uint32_t> lo_{16}, hi_{kLabelSpace - 1};
    std::atomic<bool> ttl_pipe_{false};
};

}  // namespace rampart
