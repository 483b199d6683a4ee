#include "crypto/spd.hpp"

#include <rte_acl.h>
#include <rte_byteorder.h>
#include <rte_errno.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace rampart {

namespace {

bool prefix_contains(const Prefix& p, const uint8_t* addr) {
    const unsigned bytes = p.len / 8, bits = p.len % 8;
    if (std::memcmp(p.addr.bytes.data(), addr, bytes) != 0) return false;
    if (!bits) return true;
    const uint8_t mask = uint8_t(0xff << (8 - bits));
    return (p.addr.bytes[bytes] & mask) == (addr[bytes] & mask);
}

// rte_acl reads the key in 4-byte groups ("input_index"); the first field
// must be one byte. Rule values are host order, the key network order.
enum Field4 { kProto4, kLocal4, kRemote4, kLocalPort4, kRemotePort4, kFields4 };
const rte_acl_field_def kDefs4[kFields4] = {
    {RTE_ACL_FIELD_TYPE_BITMASK, sizeof(uint8_t), kProto4, 0, offsetof(SpdKey4, protocol)},
    {RTE_ACL_FIELD_TYPE_MASK, sizeof(uint32_t), kLocal4, 1, offsetof(SpdKey4, local_be)},
    {RTE_ACL_FIELD_TYPE_MASK, sizeof(uint32_t), kRemote4, 2, offsetof(SpdKey4, remote_be)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint16_t), kLocalPort4, 3, offsetof(SpdKey4, local_port_be)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint16_t), kRemotePort4, 3, offsetof(SpdKey4, remote_port_be)},
};

enum Field6 { kProto6, kLocal6, kRemote6 = kLocal6 + 4, kLocalPort6 = kRemote6 + 4, kRemotePort6, kFields6 };
rte_acl_field_def make_defs6_entry(unsigned i) {
    if (i == kProto6) return {RTE_ACL_FIELD_TYPE_BITMASK, sizeof(uint8_t), uint8_t(i), 0, offsetof(SpdKey6, protocol)};
    if (i < kRemote6)
        return {RTE_ACL_FIELD_TYPE_MASK, sizeof(uint32_t), uint8_t(i), uint8_t(i),
                uint32_t(offsetof(SpdKey6, local) + 4 * (i - kLocal6))};
    if (i < kLocalPort6)
        return {RTE_ACL_FIELD_TYPE_MASK, sizeof(uint32_t), uint8_t(i), uint8_t(i),
                uint32_t(offsetof(SpdKey6, remote) + 4 * (i - kRemote6))};
    return {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint16_t), uint8_t(i), uint8_t(kLocalPort6),
            uint32_t(i == kLocalPort6 ? offsetof(SpdKey6, local_port_be) : offsetof(SpdKey6, remote_port_be))};
}

RTE_ACL_RULE_DEF(Acl4Rule, kFields4);
RTE_ACL_RULE_DEF(Acl6Rule, kFields6);

std::atomic<unsigned> instance{0};

template <typename Rule>
void set_common(Rule& r, const SpdSelector& s, uint32_t priority, uint32_t userdata) {
    r.data.category_mask = 1;
    r.data.priority = int32_t(priority);
    r.data.userdata = userdata;
    r.field[0].value.u8 = s.protocol.value_or(0);
    r.field[0].mask_range.u8 = s.protocol ? 0xff : 0;
}

uint32_t word_be(const Prefix& p, unsigned word) {
    uint32_t v;
    std::memcpy(&v, p.addr.bytes.data() + 4 * word, 4);
    return rte_be_to_cpu_32(v);
}
uint32_t word_bits(const Prefix& p, unsigned word) {
    int bits = int(p.len) - int(32 * word);
    return uint32_t(std::clamp(bits, 0, 32));
}

rte_acl_ctx* create_ctx(const std::string& name, uint32_t fields, size_t rules) {
    rte_acl_param prm{};
    prm.name = name.c_str();
    prm.socket_id = SOCKET_ID_ANY;
    prm.rule_size = RTE_ACL_RULE_SZ(fields);
    prm.max_rule_num = uint32_t(rules);
    rte_acl_ctx* ctx = rte_acl_create(&prm);
    if (!ctx) throw std::runtime_error(fmt::format("SPD {}: rte_acl_create: {}", name, rte_strerror(rte_errno)));
    return ctx;
}

void build_ctx(rte_acl_ctx* ctx, const rte_acl_field_def* defs, uint32_t fields, const std::string& name) {
    rte_acl_config cfg{};
    cfg.num_categories = 1;
    cfg.num_fields = fields;
    std::memcpy(cfg.defs, defs, fields * sizeof(rte_acl_field_def));
    int rc = rte_acl_build(ctx, &cfg);
    if (rc != 0) throw std::runtime_error(fmt::format("SPD {}: rte_acl_build: {}", name, rte_strerror(-rc)));
}

}  // namespace

bool selector_matches(const SpdSelector& s, const SpdPacket& p) {
    if (s.local.addr.family != p.family || s.remote.addr.family != p.family) return false;
    if (s.protocol && *s.protocol != p.protocol) return false;
    return prefix_contains(s.local, p.local.data()) && prefix_contains(s.remote, p.remote.data()) &&
           s.local_port.contains(p.local_port) && s.remote_port.contains(p.remote_port);
}

int32_t classify_linear(const std::vector<SpdSelector>& rules, const SpdPacket& p) {
    for (size_t i = 0; i < rules.size(); ++i)
        if (selector_matches(rules[i], p)) return int32_t(i);
    return -1;
}

SpdKey4 spd_key4(const SpdPacket& p) {
    SpdKey4 k{};
    k.protocol = p.protocol;
    std::memcpy(&k.local_be, p.local.data(), 4);
    std::memcpy(&k.remote_be, p.remote.data(), 4);
    k.local_port_be = rte_cpu_to_be_16(p.local_port);
    k.remote_port_be = rte_cpu_to_be_16(p.remote_port);
    return k;
}

SpdKey6 spd_key6(const SpdPacket& p) {
    SpdKey6 k{};
    k.protocol = p.protocol;
    std::memcpy(k.local, p.local.data(), 16);
    std::memcpy(k.remote, p.remote.data(), 16);
    k.local_port_be = rte_cpu_to_be_16(p.local_port);
    k.remote_port_be = rte_cpu_to_be_16(p.remote_port);
    return k;
}

SpdClassifier::SpdClassifier(const std::vector<SpdSelector>& rules, const std::string& name) : rules_(rules.size()) {
    const unsigned id = instance.fetch_add(1);
    std::vector<Acl4Rule> r4;
    std::vector<Acl6Rule> r6;
    for (size_t i = 0; i < rules.size(); ++i) {
        const SpdSelector& s = rules[i];
        if (s.local.addr.family != s.remote.addr.family)
            throw std::runtime_error(fmt::format("SPD {}: rule {} mixes IPv4 and IPv6", name, i + 1));
        // Earlier rules win: rte_acl picks the highest priority.
        const uint32_t priority = uint32_t(RTE_ACL_MAX_PRIORITY - std::min<size_t>(i, RTE_ACL_MAX_PRIORITY - 1));
        const uint32_t userdata = uint32_t(i + 1);  // 0 means no match
        if (s.local.addr.is_v4()) {
            Acl4Rule r{};
            set_common(r, s, priority, userdata);
            r.field[kLocal4].value.u32 = word_be(s.local, 0);
            r.field[kLocal4].mask_range.u32 = s.local.len;
            r.field[kRemote4].value.u32 = word_be(s.remote, 0);
            r.field[kRemote4].mask_range.u32 = s.remote.len;
            r.field[kLocalPort4].value.u16 = s.local_port.lo;
            r.field[kLocalPort4].mask_range.u16 = s.local_port.hi;
            r.field[kRemotePort4].value.u16 = s.remote_port.lo;
            r.field[kRemotePort4].mask_range.u16 = s.remote_port.hi;
            r4.push_back(r);
        } else {
            Acl6Rule r{};
            set_common(r, s, priority, userdata);
            for (unsigned w = 0; w < 4; ++w) {
                r.field[kLocal6 + w].value.u32 = word_be(s.local, w);
                r.field[kLocal6 + w].mask_range.u32 = word_bits(s.local, w);
                r.field[kRemote6 + w].value.u32 = word_be(s.remote, w);
                r.field[kRemote6 + w].mask_range.u32 = word_bits(s.remote, w);
            }
            r.field[kLocalPort6].value.u16 = s.local_port.lo;
            r.field[kLocalPort6].mask_range.u16 = s.local_port.hi;
            r.field[kRemotePort6].value.u16 = s.remote_port.lo;
            r.field[kRemotePort6].mask_range.u16 = s.remote_port.hi;
            r6.push_back(r);
        }
    }
    try {
        if (!r4.empty()) {
            std::string n = fmt::format("{}_v4_{}", name, id);
            ctx4_ = create_ctx(n, kFields4, r4.size());
            int rc = rte_acl_add_rules(ctx4_, reinterpret_cast<const rte_acl_rule*>(r4.data()), uint32_t(r4.size()));
            if (rc != 0) throw std::runtime_error(fmt::format("SPD {}: rte_acl_add_rules: {}", n, rte_strerror(-rc)));
            build_ctx(ctx4_, kDefs4, kFields4, n);
        }
        if (!r6.empty()) {
            std::string n = fmt::format("{}_v6_{}", name, id);
            rte_acl_field_def defs6[kFields6];
            for (unsigned i = 0; i < kFields6; ++i) defs6[i] = make_defs6_entry(i);
            ctx6_ = create_ctx(n, kFields6, r6.size());
            int rc = rte_acl_add_rules(ctx6_, reinterpret_cast<const rte_acl_rule*>(r6.data()), uint32_t(r6.size()));
            if (rc != 0) throw std::runtime_error(fmt::format("SPD {}: rte_acl_add_rules: {}", n, rte_strerror(-rc)));
            build_ctx(ctx6_, defs6, kFields6, n);
        }
    } catch (...) {
        if (ctx4_) rte_acl_free(ctx4_);
        if (ctx6_) rte_acl_free(ctx6_);
        throw;
    }
}

SpdClassifier::~SpdClassifier() {
    if (ctx4_) rte_acl_free(ctx4_);
    if (ctx6_) rte_acl_free(ctx6_);
}

namespace {
// rte_acl classifies at most what fits its result array per call here; 0 is "no rule".
template <typename Key>
void classify_keys(const rte_acl_ctx* ctx, const Key* const* keys, int32_t* out, unsigned n) {
    uint32_t res[64];
    for (unsigned done = 0; done < n;) {
        const unsigned k = std::min(n - done, 64u);
        if (!ctx) std::fill(res, res + k, 0u);
        else rte_acl_classify(ctx, reinterpret_cast<const uint8_t**>(const_cast<const Key**>(keys + done)), res, k, 1);
        for (unsigned i = 0; i < k; ++i) out[done + i] = int32_t(res[i]) - 1;
        done += k;
    }
}
}  // namespace

void SpdClassifier::classify4(const SpdKey4* const* keys, int32_t* out, unsigned n) const noexcept {
    classify_keys(ctx4_, keys, out, n);
}

void SpdClassifier::classify6(const SpdKey6* const* keys, int32_t* out, unsigned n) const noexcept {
    classify_keys(ctx6_, keys, out, n);
}

int32_t SpdClassifier::classify(const SpdPacket& p) const noexcept {
    int32_t out;
    if (p.family == Family::v4) {
        SpdKey4 k = spd_key4(p);
        const SpdKey4* kp = &k;
        classify4(&kp, &out, 1);
    } else {
        SpdKey6 k = spd_key6(p);
        const SpdKey6* kp = &k;
        classify6(&kp, &out, 1);
    }
    return out;
}

}  // namespace rampart
