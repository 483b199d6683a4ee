// The entry points of the IPsec stages (src/crypto/*.cpp) that the rest of
// the pipeline calls. Per-worker state: IpsecWorkerContext (Worker::ipsec_).
//   spd_output.cpp      SPD decision for forwarded and local-output packets, cleartext check
//   esp_encrypt.cpp     tunnel/transport ESP encapsulation, outer header, fragments after encryption
//   esp_decrypt.cpp     ESP (and NAT-T ESP in UDP) to the box: SAD, anti-replay, decryption, policy check
//   esp_reassembly.cpp  fragments of ESP held until whole (RFC 4303 §3.4.1)
//   handoff.cpp         packets of an SA another worker owns go to that worker
//   ipsec_context.cpp   the per-worker context, the crypto batch, SA prefetch
#pragma once

#include <rte_mbuf.h>

#include "fastpath/packet_meta.hpp"

namespace rampart {

class Worker;
struct SpdTable;

// The SPD decision for a packet about to be forwarded in meta.vrf (IP header
// at meta.l2_len, TTL already checked). Returns false when the packet is to
// be forwarded in clear (bypass); otherwise it was consumed (protected,
// discarded or handed off).
bool ipsec_forward(Worker& w, rte_mbuf* m, PacketMeta meta, const SpdTable& spd) noexcept;
// The box's own packets from the kernel (meta has kLocalOutput) in a VRF with
// an SPD: transport-mode protection. Returns false when the packet goes out as it is.
bool ipsec_local_output(Worker& w, rte_mbuf* m, PacketMeta meta) noexcept;
// Cleartext to the box that a protect entry says must arrive encrypted (RFC 4301 §5.2): true if dropped.
bool ipsec_refuse_cleartext(Worker& w, rte_mbuf* m, PacketMeta meta) noexcept;

// Once per burst, before the packets are processed, when some inbound SA
// exists: look the burst's SPIs up together and prefetch what esp_input will read.
void ipsec_prefetch_inbound(Worker& w, rte_mbuf** pkts, unsigned n) noexcept;
// Runs the crypto engine over the ESP packets queued so far and finishes them.
void esp_run_pending(Worker& w) noexcept;
// Takes the packets other workers handed over (their SA is ours) through the pipeline again.
void ipsec_drain_handoff(Worker& w) noexcept;
// Frees fragments the reassembly gave up on (prefetching `prefetch` ahead).
void esp_reassembly_free_expired(Worker& w, unsigned prefetch) noexcept;

}  // namespace rampart
