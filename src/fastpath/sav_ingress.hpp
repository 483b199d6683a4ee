// Source address validation of an arriving IPv4/IPv6 packet on its ingress
// interface (DESIGN.md, packet path: before anything else once the header is
// known to be sane). One LPM lookup keyed by the source, one bit test for the
// ingress interface (sav/table.hpp). Interfaces in SAV mode off never get here:
// the caller tests the packet's IngressFeature::sav bit first
// (ingress_features.hpp), so SAV off costs one bit test.
//
// Decapsulated tunnel traffic (PacketMeta with kDecrypted) is
// not looked up: its inner source was already checked against the SA's
// traffic selectors by the ESP inbound policy check (Drop::esp_policy_mismatch
// otherwise), which is the tunnel-derived SAV rule of RFC 5619 §3.3: a source
// may arrive through an SA only if it lies inside the SA's remote selectors.
// Such packets are counted (sav_tunnel_validated) on the ingress interface.
#pragma once

#include "fastpath/worker.hpp"
#include "sav/table.hpp"

namespace rampart {

// True when the packet goes on (allowed, or refused in monitor mode: counted);
// false when it was dropped (enforce mode: counted per reason).
template <typename Lookup>
inline bool sav_admit(Worker& w, rte_mbuf* m, PacketMeta meta, Lookup lookup) noexcept {
    const uint16_t ifindex = meta.ifindex;
    InterfaceCounters& c = w.counters_.iface[ifindex];
    if (meta.has(kDecrypted)) {
        ++c.sav_tunnel_validated;
        return true;
    }
    const sav::SavTable* st = w.tables_.sav();
    if (unlikely(!st)) return true;  // no SAV table published (tests and tools without a control core)
    const sav::SavVerdict v = lookup(*st);
    if (likely(v == sav::SavVerdict::allowed)) return true;
    const bool no_rule = v == sav::SavVerdict::no_rule;
    if (meta.in->sav_mode == SavMode::monitor) {
        ++(no_rule ? c.sav_monitor_no_rule : c.sav_monitor_wrong_interface);
        return true;
    }
    w.drop(m, ifindex, no_rule ? Drop::sav_no_rule : Drop::sav_wrong_interface);
    return false;
}

}  // namespace rampart
