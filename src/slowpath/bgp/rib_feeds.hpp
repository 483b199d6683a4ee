// From the BGP RIB into the data plane: what the protocol (bgp_protocol.cpp)
// calls with the RIB's outputs after each batch of input.
//
//   rib.set_resolver(bgp::fib_resolver(control.fib()));
//   ... rib.apply(peer, update) for a batch of UPDATEs ...
//   bgp::feed(control, rib);  // one FIB swap per table, one SAV compilation
// or each output on its own: feed_fib(control, rib.take_fib_changes()),
// feed_sav(control, rib.take_sav_changes()).
//
// The FIB side goes through Control::protocol_routes_apply (a route table of
// BGP's own that the FibPublisher reads, see slowpath/protocol_routes.hpp),
// not through the running configuration: a full table costs one publication
// per batch and nothing per later CLI change.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "slowpath/bgp/rib.hpp"

namespace rampart {
class Control;
class FibPublisher;
}  // namespace rampart

namespace rampart::bgp {

// Both outputs of the batch the Rib holds: its Loc-RIB changes into the FIB
// and its Adj-RIB-In changes into SAV, compiled together (SAV reads the FIB
// too). Returns warnings.
std::string feed(Control& control, Rib& rib);

// Loc-RIB changes → the FIB, as one batch. Returns warnings (routes the data
// plane could not take), empty when all landed.
std::string feed_fib(Control& control, const std::vector<FibChange>& changes);

// Adj-RIB-In changes of peers with a SAV interface → the SAV rule compiler,
// as one batch. Returns warnings.
std::string feed_sav(Control& control, const std::vector<SavChange>& changes);

// Resolves BGP next hops through what the FIB holds: a next hop on a
// connected subnet (or a resolved neighbour) is its own FIB next hop at IGP
// cost 0; one behind a static route resolves to that route's gateways at
// cost 1 (no IGP yet). Never through BGP's own routes (no recursion loops);
// our own address, a discard route or nothing at all: unreachable.
std::function<std::optional<Rib::Resolution>(const IpAddr&)> fib_resolver(const FibPublisher& fib);

}  // namespace rampart::bgp
