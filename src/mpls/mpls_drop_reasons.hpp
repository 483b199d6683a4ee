// Why the MPLS stage (mpls_input.cpp) drops a labelled packet: rows of the
// data plane's one drop-reason list (fastpath/drop_reasons.hpp joins them).
#pragma once

#define RAMPART_MPLS_DROP_REASONS(_)                                                        \
    _(mpls_disabled, "labelled packet on an interface without MPLS (customer-facing)")      \
    _(mpls_truncated, "MPLS stack truncated: no bottom-of-stack label within the frame")    \
    _(mpls_stack_too_deep, "MPLS label stack deeper than the parser walks (16)")            \
    _(mpls_label_out_of_range, "MPLS label outside the configured label range")             \
    _(mpls_unknown_label, "MPLS label with no incoming-label entry")                        \
    _(mpls_reserved_label, "reserved MPLS label not accepted (router alert, GAL, null...)") \
    _(mpls_ttl_expired, "MPLS TTL expired in transit")                                      \
    _(mpls_label_drop, "incoming-label entry with the drop action")                         \
    _(mpls_bad_payload, "payload under the bottom label is not the expected IPv4/IPv6")     \
    _(mpls_not_bottom, "VPN or explicit-null label that must be bottom of stack is not")
