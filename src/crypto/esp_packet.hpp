// The ESP wire format (RFC 4303 §2), separate from keys and state: header
// parsing, the padding/trailer an encapsulation needs, and the checks of a
// decrypted trailer. Pure functions over byte spans, no DPDK, bounds-checked
// and fuzzed (tests/fuzz/fuzz_esp.cpp).
//
//   | SPI (4) | Sequence (4) | IV (iv_len) | payload ... | padding | pad len | next hdr | ICV (icv_len) |
//                                          \____________ encrypted ________________________/
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rampart {

inline constexpr unsigned kEspHeaderLen = 8;   // SPI + sequence number
inline constexpr unsigned kEspTrailerLen = 2;  // pad length + next header
inline constexpr uint8_t kIpProtoEsp = 50;
inline constexpr uint16_t kNatTraversalPort = 4500;  // RFC 3948 UDP encapsulation
inline constexpr uint8_t kNextHeaderIpv4 = 4;    // tunnel mode
inline constexpr uint8_t kNextHeaderIpv6 = 41;
inline constexpr uint8_t kNextHeaderNoNext = 59; // dummy packet (RFC 4303 §2.6): dropped silently

// What a transform contributes to the layout.
struct EspLayout {
    uint8_t iv_len;     // 8 for GCM/ChaCha20-Poly1305, 16 for AES-CBC, 0 for NULL
    uint8_t icv_len;    // 16 for the AEADs, 16/24/32 for HMAC-SHA-256/384/512, 0 for none
    uint8_t align;      // the encrypted part's length is a multiple of this: 16 for CBC, else 4 (§2.4)
};

#define RAMPART_ESP_ERRORS(_)                                                              \
    _(esp_truncated, "ESP packet shorter than header, IV, trailer and ICV")                \
    _(esp_bad_alignment, "ESP encrypted part not a multiple of the cipher block")          \
    _(esp_bad_pad_length, "ESP pad length runs past the start of the payload")            \
    _(esp_bad_padding, "ESP padding bytes are not 1, 2, 3, ... (RFC 4303 §2.4)")

enum class EspError : uint8_t {
    none = 0,
#define RAMPART_ESP_ERROR_ENUM(name, text) name,
    RAMPART_ESP_ERRORS(RAMPART_ESP_ERROR_ENUM)
#undef RAMPART_ESP_ERROR_ENUM
};
std::string_view esp_error_name(EspError e) noexcept;
std::string_view esp_error_text(EspError e) noexcept;

struct EspHeader {
    uint32_t spi;  // host order
    uint32_t seq;  // low 32 bits
};

// The ESP header of `esp` (starting at the SPI), if the packet is long enough
// to hold header, IV, a trailer and the ICV.
EspError parse_esp_header(const uint8_t* esp, size_t len, const EspLayout& layout, EspHeader& out) noexcept;

// Outbound sizes for `payload_len` bytes of payload (the inner packet in
// tunnel mode, the transport payload in transport mode).
struct EspEncapSizes {
    uint32_t pad_len;       // 0..255
    uint32_t encrypted_len; // payload + padding + trailer: a multiple of layout.align
    uint32_t total_len;     // header + IV + encrypted + ICV
};
EspEncapSizes esp_encap_sizes(uint32_t payload_len, const EspLayout& layout) noexcept;

// Writes the padding (1, 2, 3, ...), pad length and next header at `at`
// (right after the payload); returns the bytes written (pad_len + 2).
unsigned write_esp_trailer(uint8_t* at, uint8_t pad_len, uint8_t next_header) noexcept;

// Checks a decrypted encrypted part (`plain`, `len` bytes: payload, padding,
// trailer). On success `payload_len` and `next_header` describe the payload.
EspError check_esp_trailer(const uint8_t* plain, size_t len, const EspLayout& layout, uint32_t& payload_len,
                           uint8_t& next_header) noexcept;

}  // namespace rampart
