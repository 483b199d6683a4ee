#include "crypto/esp_packet.hpp"

#include <iterator>

namespace rampart {

namespace {
struct ErrorInfo {
    std::string_view name, text;
};
constexpr ErrorInfo kErrors[] = {
    {"none", "no error"},
#define RAMPART_ESP_ERROR_INFO(name, text) {#name, text},
    RAMPART_ESP_ERRORS(RAMPART_ESP_ERROR_INFO)
#undef RAMPART_ESP_ERROR_INFO
};

uint32_t load_be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
}  // namespace

std::string_view esp_error_name(EspError e) noexcept {
    const unsigned i = unsigned(e);
    return i < std::size(kErrors) ? kErrors[i].name : "?";
}

std::string_view esp_error_text(EspError e) noexcept {
    const unsigned i = unsigned(e);
    return i < std::size(kErrors) ? kErrors[i].text : "?";
}

EspError parse_esp_header(const uint8_t* esp, size_t len, const EspLayout& layout, EspHeader& out) noexcept {
    const size_t minimum = size_t(kEspHeaderLen) + layout.iv_len + kEspTrailerLen + layout.icv_len;
    if (len < minimum) return EspError::esp_truncated;
    const size_t encrypted = len - kEspHeaderLen - layout.iv_len - layout.icv_len;
    if (layout.align > 1 && encrypted % layout.align != 0) return EspError::esp_bad_alignment;
    out.spi = load_be32(esp);
    out.seq = load_be32(esp + 4);
    return EspError::none;
}

EspEncapSizes esp_encap_sizes(uint32_t payload_len, const EspLayout& layout) noexcept {
    const uint32_t align = layout.align > 4 ? layout.align : 4;  // §2.4: 4-byte alignment at least
    const uint32_t unpadded = payload_len + kEspTrailerLen;
    const uint32_t pad = (align - unpadded % align) % align;
    EspEncapSizes s;
    s.pad_len = pad;
    s.encrypted_len = unpadded + pad;
    s.total_len = kEspHeaderLen + layout.iv_len + s.encrypted_len + layout.icv_len;
    return s;
}

unsigned write_esp_trailer(uint8_t* at, uint8_t pad_len, uint8_t next_header) noexcept {
    for (unsigned i = 0; i < pad_len; ++i) at[i] = uint8_t(i + 1);  // the default padding of §2.4
    at[pad_len] = pad_len;
    at[pad_len + 1] = next_header;
    return pad_len + kEspTrailerLen;
}

EspError check_esp_trailer(const uint8_t* plain, size_t len, const EspLayout& layout, uint32_t& payload_len,
                           uint8_t& next_header) noexcept {
    if (len < kEspTrailerLen) return EspError::esp_truncated;
    if (layout.align > 1 && len % layout.align != 0) return EspError::esp_bad_alignment;
    const uint8_t pad_len = plain[len - 2];
    if (size_t(pad_len) + kEspTrailerLen > len) return EspError::esp_bad_pad_length;
    const uint8_t* pad = plain + len - kEspTrailerLen - pad_len;
    // A receiver that checks the padding catches a wrong key or a cut-and-paste
    // of ciphertext that the ICV did not cover (NULL integrity is not allowed,
    // but CBC without an AEAD makes this the last line).
    for (unsigned i = 0; i < pad_len; ++i)
        if (pad[i] != uint8_t(i + 1)) return EspError::esp_bad_padding;
    payload_len = uint32_t(len - kEspTrailerLen - pad_len);
    next_header = plain[len - 1];
    return EspError::none;
}

}  // namespace rampart
