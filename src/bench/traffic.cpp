#include "bench/traffic.hpp"

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_memcpy.h>
#include <rte_prefetch.h>
#include <rte_udp.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

#include <fmt/format.h>

namespace rampart::bench {

std::vector<uint8_t> build_udp_frame(const UdpFlow& flow, unsigned frame_size) {
    const bool v4 = flow.src.is_v4();
    if (v4 != flow.dst.is_v4()) throw std::invalid_argument("flow mixes IPv4 and IPv6 addresses");
    const unsigned l3_header = v4 ? sizeof(rte_ipv4_hdr) : sizeof(rte_ipv6_hdr);
    const unsigned headers = sizeof(rte_ether_hdr) + l3_header + sizeof(rte_udp_hdr);
    if (frame_size < headers + kFcsBytes)
        throw std::invalid_argument(fmt::format("{}-byte frame cannot hold {} bytes of headers", frame_size, headers));
    const unsigned length = frame_size - kFcsBytes;
    std::vector<uint8_t> frame(length);

    auto* eth = reinterpret_cast<rte_ether_hdr*>(frame.data());
    std::memcpy(eth->dst_addr.addr_bytes, flow.dst_mac.bytes.data(), 6);
    std::memcpy(eth->src_addr.addr_bytes, flow.src_mac.bytes.data(), 6);
    eth->ether_type = rte_cpu_to_be_16(v4 ? RTE_ETHER_TYPE_IPV4 : RTE_ETHER_TYPE_IPV6);

    uint8_t* l3 = frame.data() + sizeof(rte_ether_hdr);
    auto* udp = reinterpret_cast<rte_udp_hdr*>(l3 + l3_header);
    const unsigned udp_length = length - sizeof(rte_ether_hdr) - l3_header;
    udp->src_port = rte_cpu_to_be_16(flow.src_port);
    udp->dst_port = rte_cpu_to_be_16(flow.dst_port);
    udp->dgram_len = rte_cpu_to_be_16(uint16_t(udp_length));
    udp->dgram_cksum = 0;
    uint8_t* payload = reinterpret_cast<uint8_t*>(udp + 1);
    for (unsigned i = 0; i < udp_length - sizeof(rte_udp_hdr); ++i) payload[i] = uint8_t(i);

    if (v4) {
        auto* ip = reinterpret_cast<rte_ipv4_hdr*>(l3);
        ip->version_ihl = RTE_IPV4_VHL_DEF;
        ip->type_of_service = flow.tos;
        ip->total_length = rte_cpu_to_be_16(uint16_t(l3_header + udp_length));
        ip->packet_id = 0;
        ip->fragment_offset = 0;
        ip->time_to_live = flow.ttl;
        ip->next_proto_id = IPPROTO_UDP;
        std::memcpy(&ip->src_addr, flow.src.bytes.data(), 4);
        std::memcpy(&ip->dst_addr, flow.dst.bytes.data(), 4);
        ip->hdr_checksum = 0;
        ip->hdr_checksum = rte_ipv4_cksum(ip);
        udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
    } else {
        auto* ip = reinterpret_cast<rte_ipv6_hdr*>(l3);
        ip->vtc_flow = rte_cpu_to_be_32(6u << 28 | uint32_t(flow.tos) << 20);
        ip->payload_len = rte_cpu_to_be_16(uint16_t(udp_length));
        ip->proto = IPPROTO_UDP;
        ip->hop_limits = flow.ttl;
        std::memcpy(ip->src_addr, flow.src.bytes.data(), 16);
        std::memcpy(ip->dst_addr, flow.dst.bytes.data(), 16);
        udp->dgram_cksum = rte_ipv6_udptcp_cksum(ip, udp);
    }
    return frame;
}

namespace {

constexpr unsigned kLabelEntryBytes = 4;

void write_label_stack(uint8_t* at, std::span<const LabelStackEntry> stack) {
    for (size_t i = 0; i < stack.size(); ++i) {
        const LabelStackEntry& e = stack[i];
        const uint32_t v = e.label << 12 | uint32_t(e.tc & 7) << 9 | uint32_t(i + 1 == stack.size()) << 8 | e.ttl;
        const uint32_t be = rte_cpu_to_be_32(v);
        std::memcpy(at + kLabelEntryBytes * i, &be, kLabelEntryBytes);
    }
}

}  // namespace

std::vector<uint8_t> build_labelled_udp_frame(const UdpFlow& flow, std::span<const LabelStackEntry> stack,
                                              unsigned frame_size) {
    if (stack.empty()) throw std::invalid_argument("a labelled frame needs at least one label");
    const unsigned stack_bytes = unsigned(kLabelEntryBytes * stack.size());
    if (frame_size < stack_bytes)
        throw std::invalid_argument(fmt::format("{}-byte frame cannot hold {} labels", frame_size, stack.size()));
    std::vector<uint8_t> ip_frame = build_udp_frame(flow, frame_size - stack_bytes);
    std::vector<uint8_t> frame(ip_frame.size() + stack_bytes);
    std::memcpy(frame.data(), ip_frame.data(), sizeof(rte_ether_hdr));
    write_label_stack(frame.data() + sizeof(rte_ether_hdr), stack);
    std::memcpy(frame.data() + sizeof(rte_ether_hdr) + stack_bytes, ip_frame.data() + sizeof(rte_ether_hdr),
                ip_frame.size() - sizeof(rte_ether_hdr));
    auto* eth = reinterpret_cast<rte_ether_hdr*>(frame.data());
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_MPLS);
    return frame;
}

void set_ethernet(std::vector<uint8_t>& frame, const MacAddr& dst, const MacAddr& src, uint16_t ethertype) {
    if (frame.size() < sizeof(rte_ether_hdr)) throw std::invalid_argument("frame shorter than an Ethernet header");
    auto* eth = reinterpret_cast<rte_ether_hdr*>(frame.data());
    std::memcpy(eth->dst_addr.addr_bytes, dst.bytes.data(), 6);
    std::memcpy(eth->src_addr.addr_bytes, src.bytes.data(), 6);
    eth->ether_type = rte_cpu_to_be_16(ethertype);
}

void replace_label_stack(std::vector<uint8_t>& frame, unsigned payload_offset, std::span<const LabelStackEntry> stack) {
    if (payload_offset < sizeof(rte_ether_hdr) || payload_offset > frame.size())
        throw std::invalid_argument("label stack outside the frame");
    std::vector<uint8_t> out(frame.begin(), frame.begin() + sizeof(rte_ether_hdr));
    out.resize(out.size() + kLabelEntryBytes * stack.size());
    write_label_stack(out.data() + sizeof(rte_ether_hdr), stack);
    out.insert(out.end(), frame.begin() + payload_offset, frame.end());
    frame = std::move(out);
}

void set_ipv4_ttl(std::vector<uint8_t>& frame, unsigned offset, uint8_t ttl) {
    if (offset + sizeof(rte_ipv4_hdr) > frame.size()) throw std::invalid_argument("IPv4 header outside the frame");
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(frame.data() + offset);
    ip->time_to_live = ttl;
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
}

void FrameTemplates::FreeAligned::operator()(uint8_t* p) const noexcept { std::free(p); }

FrameTemplates::FrameTemplates(unsigned max_frame_bytes)
    : max_bytes_(max_frame_bytes), stride_((max_frame_bytes + sizeof(uint16_t) + 63) / 64 * 64) {
    if (max_frame_bytes == 0 || max_frame_bytes > kLargestFrameBytes)
        throw std::invalid_argument(fmt::format("frame templates of {} bytes", max_frame_bytes));
}

void FrameTemplates::add_slot(std::span<const uint8_t> frame) {
    if (frame.size() > max_bytes_)
        throw std::invalid_argument(fmt::format("{}-byte template exceeds {} bytes", frame.size(), max_bytes_));
    if (count_ == capacity_) {
        const size_t capacity = capacity_ ? 2 * capacity_ : 64;
        auto* grown = static_cast<uint8_t*>(std::aligned_alloc(64, capacity * stride_));
        if (!grown) throw std::bad_alloc();
        if (count_) std::memcpy(grown, storage_.get(), count_ * stride_);
        storage_.reset(grown);
        capacity_ = capacity;
    }
    uint8_t* slot = storage_.get() + count_ * stride_;
    std::memset(slot, 0, stride_);
    std::memcpy(slot, frame.data(), frame.size());
    const uint16_t length = uint16_t(frame.size());
    std::memcpy(slot + stride_ - sizeof length, &length, sizeof length);
    ++count_;
}

void FrameTemplates::add(std::span<const uint8_t> frame) {
    if (!expected_.empty()) throw std::logic_error("every frame template needs an expected output, or none");
    add_slot(frame);
}

void FrameTemplates::add(std::span<const uint8_t> frame, std::vector<uint8_t> expected_output) {
    if (expected_.size() != count_) throw std::logic_error("every frame template needs an expected output, or none");
    add_slot(frame);
    expected_.push_back(std::move(expected_output));
}

TrafficGenerator::TrafficGenerator(const FrameTemplates& templates, rte_mempool* pool, rte_ring* to_worker,
                                   rte_ring* from_worker)
    : templates_(templates), pool_(pool), to_worker_(to_worker), from_worker_(from_worker),
      // rte_pktmbuf_init() lays every mbuf out as header, private area, buffer.
      frame_offset_(sizeof(rte_mbuf) + rte_pktmbuf_priv_size(pool) + RTE_PKTMBUF_HEADROOM) {
    if (templates_.size() == 0) throw std::invalid_argument("no frame templates");
}

void TrafficGenerator::restore(rte_mbuf* m) noexcept {
    // The worker may have moved data_off (L2 rewrite to a different header
    // length) or trimmed padding: reset the geometry with the bytes. Only
    // write when it changed: a header line this core merely read stays in the
    // worker's cache, and the generator is the side that must be faster.
    const uint16_t length = templates_.length(next_template_);
    if (unlikely(m->data_off != RTE_PKTMBUF_HEADROOM || m->data_len != length || m->pkt_len != length)) {
        m->data_off = RTE_PKTMBUF_HEADROOM;
        m->data_len = length;
        m->pkt_len = length;
    }
    uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
    rte_memcpy(frame, templates_.bytes(next_template_), length);
    if (const auto& refresh = templates_.refresh(); unlikely(bool(refresh))) refresh(frame, next_template_, pass_);
    if (++next_template_ == templates_.size()) {
        next_template_ = 0;
        ++pass_;
    }
}

void TrafficGenerator::prime(unsigned frames) {
    if (frames >= rte_ring_get_capacity(to_worker_))
        throw std::runtime_error(fmt::format("{} frames in flight do not fit the {}-slot rx ring", frames,
                                             rte_ring_get_capacity(to_worker_)));
    std::vector<rte_mbuf*> mbufs(frames);
    if (rte_pktmbuf_alloc_bulk(pool_, mbufs.data(), frames) != 0)
        throw std::runtime_error(fmt::format("cannot allocate {} mbufs for the generator", frames));
    for (rte_mbuf* m : mbufs) {
        restore(m);
        if (rte_pktmbuf_mtod(m, uint8_t*) != reinterpret_cast<uint8_t*>(m) + frame_offset_)
            throw std::runtime_error("mbuf layout is not header, private area, buffer: cannot prefetch frames");
    }
    rte_ring_sp_enqueue_bulk(to_worker_, reinterpret_cast<void**>(mbufs.data()), frames, nullptr);
}

unsigned TrafficGenerator::recycle_burst() noexcept {
    void* burst[kBurst];
    ++counters_.polls;
    const unsigned n = rte_ring_sc_dequeue_burst(from_worker_, burst, kBurst, nullptr);
    if (n == 0) {
        ++counters_.empty_polls;
        return 0;
    }
    // The worker's core wrote these lines last: pull them over early, the
    // mbuf header (read only) and the frame's first line (to be overwritten),
    // whose address follows from the mbuf's without reading its header.
    constexpr unsigned kAhead = 8;
    for (unsigned i = 0; i < n && i < kAhead; ++i) {
        rte_prefetch0(burst[i]);
        rte_prefetch0_write(static_cast<uint8_t*>(burst[i]) + frame_offset_);
    }
    for (unsigned i = 0; i < n; ++i) {
        if (i + kAhead < n) {
            rte_prefetch0(burst[i + kAhead]);
            rte_prefetch0_write(static_cast<uint8_t*>(burst[i + kAhead]) + frame_offset_);
        }
        restore(static_cast<rte_mbuf*>(burst[i]));
    }
    // Never short: fewer frames circulate than the rx ring holds (checked in prime()).
    rte_ring_sp_enqueue_burst(to_worker_, burst, n, nullptr);
    counters_.recycled += n;
    return n;
}

}  // namespace rampart::bench
