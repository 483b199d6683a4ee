// Helpers shared by the SAV tests: an RCU state for the table publisher,
// terse route/prefix builders.
#pragma once

#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "sav/rules.hpp"
#include "sav/table.hpp"

namespace rampart::sav::test {

// No worker registers with it, so every grace period ends at once; the
// publisher's ordering is what is under test, not the waiting.
struct Qsbr {
    rte_rcu_qsbr* v = nullptr;
    Qsbr() {
        const size_t sz = rte_rcu_qsbr_get_memsize(1);
        v = static_cast<rte_rcu_qsbr*>(rte_zmalloc("sav_test_qsbr", sz, RTE_CACHE_LINE_SIZE));
        if (!v || rte_rcu_qsbr_init(v, 1) != 0) throw std::runtime_error("cannot create the test RCU state");
    }
    ~Qsbr() { rte_free(v); }
    Qsbr(const Qsbr&) = delete;
    Qsbr& operator=(const Qsbr&) = delete;
};

inline Prefix pfx(const char* text) {
    auto p = Prefix::parse(text);
    if (!p) throw std::invalid_argument(std::string("bad prefix in test: ") + text);
    return *p;
}

inline IpAddr addr(const char* text) {
    auto a = IpAddr::parse(text);
    if (!a) throw std::invalid_argument(std::string("bad address in test: ") + text);
    return *a;
}

// A route with an AS_SEQUENCE path (first = neighbour, last = origin).
inline Route route(const char* prefix, std::vector<Asn> path, std::vector<uint32_t> communities = {}) {
    Route r;
    r.prefix = pfx(prefix);
    if (!path.empty()) r.as_path.push_back({false, std::move(path)});
    r.communities = std::move(communities);
    return r;
}

inline InterfaceSet ifset(std::initializer_list<unsigned> ids) {
    InterfaceSet s;
    for (unsigned i : ids) s.add(i);
    return s;
}

}  // namespace rampart::sav::test
