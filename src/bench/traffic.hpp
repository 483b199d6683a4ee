// Synthetic traffic: frame templates and the generator that keeps the
// worker's rx ring full by recycling what the worker transmitted.
//
// The generator allocates nothing while it runs: a fixed number of mbufs
// circulates rx ring → worker → egress tx ring → generator → rx ring. Each
// recycled mbuf gets the next template's bytes back (forwarding rewrote MACs,
// TTL and checksum), so the worker always sees valid, fresh frames.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <span>
#include <vector>

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "common/net.hpp"

namespace rampart::bench {

// Frame sizes follow RFC 2544: they include the 4-byte FCS, which the mbuf does not carry.
inline constexpr unsigned kFcsBytes = 4;

struct UdpFlow {
    MacAddr dst_mac, src_mac;
    IpAddr src, dst;  // both IPv4 or both IPv6
    uint16_t src_port = 0, dst_port = 0;
    uint8_t ttl = 64;  // hop limit for IPv6
    uint8_t tos = 0;   // IPv4 type of service (DSCP << 2 | ECN); IPv6 traffic class
};

// One MPLS label stack entry as it is on the wire (RFC 3032 §2.1); the
// bottom-of-stack bit is set by the builder on the last entry.
struct LabelStackEntry {
    uint32_t label = 0;
    uint8_t tc = 0;
    uint8_t ttl = 64;
};

// An Ethernet + IPv4/IPv6 + UDP frame of `frame_size` bytes (FCS included),
// with valid IP and UDP checksums. Throws std::invalid_argument when the
// headers do not fit.
std::vector<uint8_t> build_udp_frame(const UdpFlow& flow, unsigned frame_size);

// The same UDP packet carried under `stack` (top first): Ethernet type 0x8847,
// the label stack, then the IP packet, `frame_size` bytes in all (FCS included).
std::vector<uint8_t> build_labelled_udp_frame(const UdpFlow& flow, std::span<const LabelStackEntry> stack,
                                              unsigned frame_size);

// Frame surgery for the frames a profile expects out of the router. Offsets
// are from the frame's first byte; the frame is Ethernet without VLAN tag.
void set_ethernet(std::vector<uint8_t>& frame, const MacAddr& dst, const MacAddr& src, uint16_t ethertype);
// Replaces the label stack between the Ethernet header and `payload_offset` with `stack`.
void replace_label_stack(std::vector<uint8_t>& frame, unsigned payload_offset, std::span<const LabelStackEntry> stack);
// Sets the TTL of the IPv4 header at `offset` and recomputes its checksum.
void set_ipv4_ttl(std::vector<uint8_t>& frame, unsigned offset, uint8_t ttl);

// The frames a profile offers, one per flow, each in its own run of cache
// lines, and optionally the frame the router must send for each (checked
// byte for byte before measuring; never touched while measuring), or a
// profile's own check of each output when the bytes cannot be predicted
// (ESP: random IVs, ciphertext).
class FrameTemplates {
public:
    static constexpr unsigned kDefaultMaxFrameBytes = 126;
    static constexpr unsigned kLargestFrameBytes = 2046;  // fits the pool's 2048-byte data room less headroom

    // Returns "" when `got` (what left the egress port for template `i`) is right, else what is wrong.
    using OutputCheck = std::function<std::string(size_t i, std::span<const uint8_t> got)>;
    // Called by the generator on a recycled frame right after the template's
    // bytes were copied in: `pass` counts the times the generator went round
    // the whole template list (from 1: pass 0 is the check before measuring,
    // which offers the templates as they are).
    using Refresh = std::function<void(uint8_t* frame, size_t i, uint64_t pass)>;

    // Frames up to `max_frame_bytes` (FCS excluded); each slot is that plus a
    // length, rounded up to whole cache lines (two lines for the default).
    explicit FrameTemplates(unsigned max_frame_bytes = kDefaultMaxFrameBytes);

    void add(std::span<const uint8_t> frame);  // throws std::invalid_argument beyond max_frame_bytes
    // With the frame expected out of the egress port. Either every template has one or none has.
    void add(std::span<const uint8_t> frame, std::vector<uint8_t> expected_output);
    size_t size() const { return count_; }
    const uint8_t* bytes(size_t i) const { return storage_.get() + i * stride_; }
    uint16_t length(size_t i) const {
        uint16_t l;
        std::memcpy(&l, bytes(i) + stride_ - sizeof l, sizeof l);
        return l;
    }
    bool has_expected_outputs() const { return !expected_.empty(); }
    const std::vector<uint8_t>& expected_output(size_t i) const { return expected_[i]; }

    void set_output_check(OutputCheck check) { output_check_ = std::move(check); }
    const OutputCheck& output_check() const { return output_check_; }
    void set_refresh(Refresh refresh) { refresh_ = std::move(refresh); }
    const Refresh& refresh() const { return refresh_; }

private:
    void add_slot(std::span<const uint8_t> frame);

    struct FreeAligned {
        void operator()(uint8_t* p) const noexcept;
    };
    unsigned max_bytes_, stride_;
    size_t count_ = 0, capacity_ = 0;
    std::unique_ptr<uint8_t[], FreeAligned> storage_;
    std::vector<std::vector<uint8_t>> expected_;
    OutputCheck output_check_;
    Refresh refresh_;
};

struct GeneratorCounters {
    uint64_t recycled = 0;     // frames put back into the worker's rx ring
    uint64_t polls = 0;        // dequeue attempts on the egress tx ring
    uint64_t empty_polls = 0;  // ... that found nothing: the generator was waiting on the worker
};

// Runs on the main lcore beside the worker, or inline on the worker's lcore (--generator inline).
class TrafficGenerator {
public:
    // `to_worker` is the ingress port's rx ring, `from_worker` the egress port's tx ring.
    TrafficGenerator(const FrameTemplates& templates, rte_mempool* pool, rte_ring* to_worker, rte_ring* from_worker);
    TrafficGenerator(const TrafficGenerator&) = delete;
    TrafficGenerator& operator=(const TrafficGenerator&) = delete;

    // Allocates `frames` mbufs, fills them from the templates and queues them
    // for the worker. Throws std::runtime_error when the pool or ring is too small.
    void prime(unsigned frames);
    // Moves one burst from the worker's output back to its input. Returns the frames moved.
    unsigned recycle_burst() noexcept;
    const GeneratorCounters& counters() const { return counters_; }

private:
    static constexpr unsigned kBurst = 64;
    void restore(rte_mbuf* m) noexcept;

    const FrameTemplates& templates_;
    rte_mempool* pool_;
    rte_ring* to_worker_;
    rte_ring* from_worker_;
    size_t frame_offset_;  // from an mbuf's address to its frame's first byte
    size_t next_template_ = 0;
    uint64_t pass_ = 1;  // see FrameTemplates::Refresh
    GeneratorCounters counters_;
};

}  // namespace rampart::bench
