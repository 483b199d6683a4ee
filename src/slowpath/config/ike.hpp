// The IKE section's exec commands, answered by the IKE protocol
// (slowpath/ike/ike_protocol.cpp): their tags in the section's rows.
#pragma once

namespace rampart::config {

enum class IkeExec { ShowSa, ShowPeers, ShowLockout, ShowPad, ClearLockout, ShowSummary, ClearSa, Initiate, Terminate, Rekey };

}  // namespace rampart::config
