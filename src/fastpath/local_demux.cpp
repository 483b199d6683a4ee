// Local delivery (local_demux.hpp): the registrations, each worker's copy,
// and UDP's own demultiplexing by destination port.
#include "fastpath/local_demux.hpp"

#include <stdexcept>
#include <string>

#include <netinet/in.h>
#include <rte_byteorder.h>

#include "crypto/ipsec_stages.hpp"
#include "fastpath/punt.hpp"
#include "fastpath/worker.hpp"

namespace rampart {

namespace {
// Written only by static initializers, before main; read by Worker constructors.
const LocalDemuxEntry* registrations = nullptr;
}  // namespace

LocalDemuxEntry::LocalDemuxEntry(Kind k, uint16_t key_, LocalHandler h, const char* name_) noexcept
    : kind(k), key(key_), handler(h), name(name_), next(registrations) {
    registrations = this;
}

const LocalDemuxEntry* LocalDemuxEntry::registered() noexcept { return registrations; }

void LocalDemux::fill(const LocalDemuxEntry* list) {
    *this = LocalDemux{};
    for (const LocalDemuxEntry* e = list; e; e = e->next) {
        switch (e->kind) {
            case LocalDemuxEntry::Kind::ip_protocol:
                if (e->key > 255) throw std::runtime_error(std::string("local demux: bad protocol for ") + e->name);
                if (by_protocol_[e->key])
                    throw std::runtime_error("local demux: IP protocol " + std::to_string(e->key) +
                                             " registered twice (" + e->name + ")");
                by_protocol_[e->key] = e->handler;
                break;
            case LocalDemuxEntry::Kind::udp_port:
                if (udp_port(rte_cpu_to_be_16(e->key)))
                    throw std::runtime_error("local demux: UDP port " + std::to_string(e->key) +
                                             " registered twice (" + e->name + ")");
                if (udp_count_ == kMaxUdpPorts) throw std::runtime_error("local demux: too many UDP ports");
                udp_port_be_[udp_count_] = rte_cpu_to_be_16(e->key);
                udp_handler_[udp_count_++] = e->handler;
                break;
            case LocalDemuxEntry::Kind::udp_fragments:
                if (udp_fragments_) throw std::runtime_error(std::string("local demux: UDP fragments registered twice (") + e->name + ")");
                udp_fragments_ = e->handler;
                break;
        }
    }
}

void local_exception(Worker& w, rte_mbuf* m, PacketMeta meta, LocalL4) noexcept {
    if ((meta.features & feature_bit(IngressFeature::spd)) && !meta.has(kDecrypted) && ipsec_refuse_cleartext(w, m, meta))
        return;
    punt(w, m, meta);
}

void local_deliver(Worker& w, rte_mbuf* m, PacketMeta meta, LocalL4 l4) noexcept {
    if (LocalHandler h = w.demux_.protocol(l4.proto)) return h(w, m, meta, l4);
    local_exception(w, m, meta, l4);
}

namespace {

// UDP to the box: by destination port; fragments to the one fragment handler.
void udp_local_input(Worker& w, rte_mbuf* m, PacketMeta meta, LocalL4 l4) noexcept {
    if (unlikely(l4.fragment)) {
        if (LocalHandler h = w.demux_.udp_fragments()) return h(w, m, meta, l4);
        return local_exception(w, m, meta, l4);
    }
    if (m->data_len >= l4.off + 4) {
        uint16_t port_be;
        std::memcpy(&port_be, rte_pktmbuf_mtod_offset(m, const uint8_t*, l4.off + 2), 2);
        if (LocalHandler h = w.demux_.udp_port(port_be)) return h(w, m, meta, l4);
    }
    local_exception(w, m, meta, l4);
}

}  // namespace

RAMPART_LOCAL_PROTOCOL(udp, IPPROTO_UDP, udp_local_input);

}  // namespace rampart
