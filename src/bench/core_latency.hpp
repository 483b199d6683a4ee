// Core-to-core cache-line round trip between the generator's and the
// worker's lcores. Every frame crosses between them twice (the generator
// writes it, the worker rewrites it), so this latency moves the results; on a
// virtual machine it changes when the hypervisor moves the vCPUs. Reported
// beside each profile so that a slow run can be told from a slow worker.
#pragma once

namespace rampart::bench {

// Median over a few batches of round trips, in nanoseconds. The other lcore
// must be idle; it is busy for a few milliseconds.
double core_round_trip_ns(unsigned other_lcore);

}  // namespace rampart::bench
