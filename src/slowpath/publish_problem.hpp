// What a publisher could not bring into the data plane or the kernel, as
// typed data: the control core decides what a problem means by its kind (an
// IPsec change whose SPD did not compile did not land; a route that did not
// install is only a warning), never by the wording of its text.
#pragma once

#include <string>
#include <vector>

namespace rampart {

struct PublishProblem {
    enum class Kind : unsigned char {
        route,      // a route not installed; subject: the prefix
        label,      // an incoming label not installed; subject: the label
        vrf,        // a VRF's tables not created; subject: the VRF
        interface,  // an interface not in the data plane; subject: the interface
        sav,        // the SAV table not updated (the previous rules stay in force)
        kernel,     // a change of the kernel side (TAP twins, VLAN links, mirrored routes) failed
        ipsec_sa,   // an SA not installed; subject: the SA's name
        ipsec_spd,  // a VRF's SPD not installed (the previous one stays); subject: the VRF
    };
    Kind kind;
    std::string subject;
    std::string text;  // the whole sentence, as logged and shown after "% warning: "
    friend bool operator==(const PublishProblem&, const PublishProblem&) = default;
};

using PublishProblems = std::vector<PublishProblem>;

inline void append(PublishProblems& to, PublishProblems more) {
    to.insert(to.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
}

}  // namespace rampart
