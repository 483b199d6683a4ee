// Why the IPsec stages (spd_output, esp_encrypt, esp_decrypt,
// esp_reassembly, handoff) drop a packet: rows of the data plane's one
// drop-reason list (fastpath/drop_reasons.hpp joins them).
#pragma once

#define RAMPART_IPSEC_DROP_REASONS(_)                                                                      \
    _(ipsec_policy_discard, "SPD entry with the discard action")                                           \
    _(ipsec_no_sa, "protect entry without an installed SA (acquire sent to the control core)")             \
    _(ipsec_cleartext_protected, "cleartext packet that the SPD says must arrive protected")               \
    _(esp_unknown_spi, "ESP with an SPI that is not an inbound SA of this address")                        \
    _(esp_encapsulation_mismatch, "ESP in UDP for a plain SA, or plain ESP for a NAT-T SA")                \
    _(esp_truncated, "ESP shorter than header, IV, trailer and ICV")                                       \
    _(esp_reassembly_failed, "ESP fragments that could not be reassembled (table full, overlap, too big)") \
    _(esp_bad_alignment, "ESP encrypted part not a multiple of the cipher block")                          \
    _(esp_replay_duplicate, "ESP sequence number already received (anti-replay)")                          \
    _(esp_replay_too_old, "ESP sequence number left of the anti-replay window")                            \
    _(esp_auth_failed, "ESP integrity check failed")                                                       \
    _(esp_bad_trailer, "ESP padding or pad length wrong after decryption")                                 \
    _(esp_bad_next_header, "ESP payload is not IPv4/IPv6 (tunnel mode)")                                   \
    _(esp_dummy_packet, "ESP dummy packet (next header 59, RFC 4303 §2.6)")                                \
    _(esp_policy_mismatch, "decrypted packet does not match its SA's policy")                              \
    _(esp_ecn_ce_not_ect, "outer header congestion-marked, inner not ECN-capable (RFC 6040 §4.2)")         \
    _(esp_udp_checksum, "UDP-encapsulated ESP with a wrong UDP checksum")                                  \
    _(esp_sequence_exhausted, "outbound SA used up its sequence numbers (rekey needed)")                   \
    _(esp_lifetime_expired, "SA past its hard packet/byte lifetime (rekey needed)")                        \
    _(esp_no_room, "no head/tail room or a chained mbuf for ESP encapsulation")                            \
    _(esp_crypto_error, "the crypto engine refused or failed the operation")                               \
    _(esp_mtu_exceeded, "ESP packet larger than the egress MTU")                                           \
    _(ipsec_handoff_full, "hand-off ring to the SA's owner worker full")
