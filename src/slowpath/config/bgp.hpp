// The BGP section's exec commands, answered by the BGP protocol
// (slowpath/bgp/bgp_protocol.cpp): their tags in the section's rows.
#pragma once

namespace rampart::config {

enum class BgpExec { ShowSummary = 100, ShowNeighbors, Clear, ShowTable, ShowNeighborRoutes };

}  // namespace rampart::config
