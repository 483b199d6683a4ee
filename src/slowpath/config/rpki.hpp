// The RPKI section's exec commands, answered by the RPKI protocol
// (slowpath/rpki/rpki_protocol.cpp): their tags in the section's rows.
#pragma once

namespace rampart::config {

enum class RpkiExec { ShowCache = 100, ShowRoa, ShowAspa, ShowValidity };

}  // namespace rampart::config
