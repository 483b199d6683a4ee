// Source address validation: the mechanism and neighbour role per interface,
// our AS, allow/deny lists, and the inputs loaded from files (an interface's
// Adj-RIB-In from MRT, the RPKI view). The compiler and the data-plane table
// are in src/sav; SavControl (slowpath/sav_control.hpp) feeds them.
#include <fmt/format.h>

#include "common/log.hpp"
#include "slowpath/config/help_text.hpp"
#include "slowpath/config/section.hpp"
#include "slowpath/config/util.hpp"
#include "slowpath/control.hpp"
#include "slowpath/show.hpp"

namespace rampart {
namespace {
constexpr std::pair<sav::Mechanism, std::string_view> kSavKeywords[] = {
    {sav::Mechanism::off, "off"},
    {sav::Mechanism::strict_urpf, "strict"},
    {sav::Mechanism::loose_urpf, "loose"},
    {sav::Mechanism::loose_urpf_with_default, "loose-default"},
    {sav::Mechanism::feasible_path_urpf, "feasible-path"},
    {sav::Mechanism::efp_urpf_a, "efp-a"},
    {sav::Mechanism::efp_urpf_b, "efp-b"},
    {sav::Mechanism::bar_sav, "bar-sav"},
};
constexpr std::pair<sav::Role, std::string_view> kSavRoleKeywords[] = {
    {sav::Role::customer, "customer"},
    {sav::Role::lateral_peer, "peer"},
    {sav::Role::provider, "provider"},
};
}  // namespace

std::string_view sav_mechanism_keyword(sav::Mechanism m) {
    for (auto& [mech, word] : kSavKeywords)
        if (mech == m) return word;
    return "?";
}

std::string_view sav_role_keyword(sav::Role r) {
    for (auto& [role, word] : kSavRoleKeywords)
        if (role == r) return word;
    return "?";
}

}  // namespace rampart

namespace rampart::config {
namespace {

using namespace help;

enum class Cmd { InterfaceSav, InterfaceSavRole, SavAllow, SavDeny, SavLocalAsn, SavLoadMrt, SavLoadRpki,
                 ShowSavInterface, ShowSavPrefix };

// clang-format off
constexpr cmd::CommandRow kRows[] = {
    {int(Cmd::InterfaceSav), "interface-sav",
     "interface <name:IFNAME> sav [off|strict|loose|loose-default|feasible-path|efp-a|efp-b|bar-sav] [monitor]",
     "Source address validation on an interface: the mechanism, and monitor (count refused sources, still forward) (no: off)",
     {kInterface, kIfName, "Source address validation of packets arriving here",
      "No SAV (no lookup at all)", "Strict uRPF (RFC 3704 2.2): the best route back leaves by this interface",
      "Loose uRPF (RFC 3704 2.4): some route other than the default covers the source",
      "Loose uRPF where the default route counts too",
      "Feasible-path uRPF (RFC 3704 2.3): any route received on this interface covers it",
      "EFP-uRPF algorithm A (RFC 8704 3.3)", "EFP-uRPF algorithm B (RFC 8704 3.4)",
      "BAR-SAV (draft-ietf-sidrops-bar-sav): customer cones from ASPA, ROAs and AS paths",
      "Monitor only: refused sources are counted per reason and forwarded"},
     Negatable::yes, kBoth},
    {int(Cmd::InterfaceSavRole), "interface-sav-role", "interface <name:IFNAME> sav-role [customer|peer|provider] [asn <asn:UINT(1-4294967295)>]",
     "The neighbour's business role for SAV, and its AS number (no: customer, AS unknown)",
     {kInterface, kIfName, "The neighbour's role for source address validation", "The neighbour is our customer",
      "The neighbour is a lateral peer", "The neighbour is our provider", "The neighbour's AS number",
      "AS number (unknown: taken from the AS paths received)"},
     Negatable::yes, kBoth},
    {int(Cmd::SavAllow), "allow", "sav allow <prefix:PREFIX> interface <ifname:IFNAME>",
     "Allow sources in a prefix on an interface beyond what the routes say (no: remove)",
     {kSav, "Allow-list entry", "Source prefix", "The interface where they may enter", kIfName},
     Negatable::yes, kBoth},
    {int(Cmd::SavDeny), "deny", "sav deny <prefix:PREFIX>",
     "Refuse sources in a prefix on every interface with SAV on (no: remove)",
     {kSav, "Deny-list entry: refused whatever the mechanism", "Source prefix"}, Negatable::yes, kBoth},
    {int(Cmd::SavLocalAsn), "local-asn", "sav local-asn <asn:UINT(1-4294967295)>", "Our AS number, for the SAV compiler (no: unknown)",
     {kSav, "Our AS number", "AS number"}, Negatable::yes, kBoth},
};
// `sav load` reads a file at once (CLI) or when the box starts (startup
// configuration): the running configuration keeps the line, so a saved
// configuration boots with the same SAV inputs.
constexpr cmd::CommandRow kExecRows[] = {
    {int(Cmd::SavLoadMrt), "load-mrt", "sav load mrt <path:WORD> interface <ifname:IFNAME>",
     "Load an interface's Adj-RIB-In from an MRT file (replaces the one loaded before; all or nothing; no: not at the next start)",
     {kSav, "Load SAV input from a file", "MRT (RFC 6396) TABLE_DUMP_V2 or BGP4MP file", "Path of the file",
      "Routes received on this interface", kIfName},
     Negatable::yes, kBoth},
    {int(Cmd::SavLoadRpki), "load-rpki", "sav load rpki <path:WORD>",
     "Load validated ROAs and ASPAs from rpki-client or Routinator JSON (replaces the previous set; all or nothing; no: not at the next start)",
     {kSav, "Load SAV input from a file", "RPKI relying-party JSON export (ROAs, ASPAs)", "Path of the file"},
     Negatable::yes, kBoth},
    {int(Cmd::ShowSavInterface), "show-interface", "show sav interface <name:IFNAME>",
     "Show an interface's SAV mechanism, mode, rule count and counters",
     {kShow, kSav, "One interface's SAV state and counters", kIfName}, Negatable::no, kExec},
    {int(Cmd::ShowSavPrefix), "show-prefix", "show sav prefix <prefix:PREFIX>",
     "Show the interfaces where sources in a prefix may enter, and why for each",
     {kShow, kSav, "Where sources in a prefix may enter, and why", "Source prefix"}, Negatable::no,
     kExec},
};
// clang-format on
const cmd::CommandRegistration kConfigGroup{{"sav", 80, kRows}};
const cmd::CommandRegistration kExecGroup{{"sav", 170, kExecRows}};

std::optional<std::string> apply_interface_sav(RunningConfig& cfg, const cmd::Parsed& c) {
    const std::string& name = c.word("name");
    auto it = cfg.interfaces.find(name);
    if (it == cfg.interfaces.end()) return fmt::format("unknown interface {}", name);
    InterfaceConfig& i = it->second;
    switch (Cmd(c.tag())) {
        case Cmd::InterfaceSav: {
            if (c.negated) {
                i.sav = sav::Mechanism::off;
                i.sav_monitor = false;
                return std::nullopt;
            }
            std::optional<sav::Mechanism> mech;
            for (auto& [m, word] : kSavKeywords)
                if (c.has(word)) mech = m;
            if (!mech) return fmt::format("interface {} sav: name a mechanism (off, strict, loose, loose-default, "
                                          "feasible-path, efp-a, efp-b, bar-sav)", name);
            if (*mech == sav::Mechanism::off && c.has("monitor")) return "sav off has no monitor mode";
            i.sav = *mech;
            i.sav_monitor = c.has("monitor");
            return std::nullopt;
        }
        case Cmd::InterfaceSavRole: {
            if (c.negated) {
                i.sav_role = sav::Role::customer;
                i.sav_neighbor_asn = 0;
                return std::nullopt;
            }
            std::optional<sav::Role> role;
            for (auto& [r, word] : kSavRoleKeywords)
                if (c.has(word)) role = r;
            if (!role) return fmt::format("interface {} sav-role: name a role (customer, peer, provider)", name);
            i.sav_role = *role;
            i.sav_neighbor_asn = c.has_arg("asn") ? c.number("asn") : 0;
            return std::nullopt;
        }
        default: return "not an interface sav command";
    }
}

// SAV lists name interfaces: after them; the files loaded last, once the
// interfaces and lists they feed are there.
std::string render_sav(const RunningConfig& config, bool) {
    std::string out;
    const SavConfig& sv = config.sav;
    if (sv.local_asn || !sv.allow.empty() || !sv.deny.empty() || !sv.mrt_files.empty() || !sv.rpki_file.empty())
        out += "!\n";
    if (sv.local_asn) out += fmt::format("sav local-asn {}\n", sv.local_asn);
    for (auto& [p, ifaces] : sv.allow)
        for (auto& n : ifaces) out += fmt::format("sav allow {} interface {}\n", p.str(), n);
    for (auto& p : sv.deny) out += fmt::format("sav deny {}\n", p.str());
    for (auto& [ifname, path] : sv.mrt_files)
        out += fmt::format("sav load mrt {} interface {}\n", quote_if_needed(path), ifname);
    if (!sv.rpki_file.empty()) out += fmt::format("sav load rpki {}\n", quote_if_needed(sv.rpki_file));
    return out;
}

class SavSection final : public Section {
public:
    SavSection() : Section("sav", 70) {}

    std::optional<std::string> apply(RunningConfig& cfg, const cmd::Parsed& c, bool) const override {
        switch (Cmd(c.tag())) {
            case Cmd::InterfaceSav:
            case Cmd::InterfaceSavRole: return apply_interface_sav(cfg, c);
            case Cmd::SavLocalAsn: cfg.sav.local_asn = c.negated ? 0 : c.number("asn"); return std::nullopt;
            case Cmd::SavAllow: {
                const Prefix p = c.prefix("prefix").network();
                const std::string& ifname = c.word("ifname");
                auto it = cfg.sav.allow.find(p);
                if (c.negated) {
                    if (it == cfg.sav.allow.end() || !it->second.count(ifname))
                        return fmt::format("no sav allow {} interface {}", p.str(), ifname);
                    it->second.erase(ifname);
                    if (it->second.empty()) cfg.sav.allow.erase(it);
                    return std::nullopt;
                }
                if (!cfg.interfaces.count(ifname)) return fmt::format("unknown interface {}", ifname);
                cfg.sav.allow[p].insert(ifname);
                return std::nullopt;
            }
            case Cmd::SavDeny: {
                const Prefix p = c.prefix("prefix").network();
                if (c.negated) {
                    if (!cfg.sav.deny.erase(p)) return fmt::format("no sav deny {}", p.str());
                    return std::nullopt;
                }
                cfg.sav.deny.insert(p);
                return std::nullopt;
            }
            case Cmd::SavLoadMrt: {
                const std::string& ifname = c.word("ifname");
                if (c.negated) {  // what was loaded stays until replaced; the next start goes without it
                    auto it = cfg.sav.mrt_files.find(ifname);
                    if (it == cfg.sav.mrt_files.end() || it->second != c.word("path"))
                        return fmt::format("no sav load mrt {} interface {}", quote_if_needed(c.word("path")), ifname);
                    cfg.sav.mrt_files.erase(it);
                    return std::nullopt;
                }
                if (!cfg.interfaces.count(ifname)) return fmt::format("unknown interface {}", ifname);
                cfg.sav.mrt_files[ifname] = c.word("path");  // replaces what was loaded for it before
                return std::nullopt;
            }
            case Cmd::SavLoadRpki:
                if (c.negated) {
                    if (cfg.sav.rpki_file != c.word("path"))
                        return fmt::format("no sav load rpki {}", quote_if_needed(c.word("path")));
                    cfg.sav.rpki_file.clear();
                    return std::nullopt;
                }
                cfg.sav.rpki_file = c.word("path");
                return std::nullopt;
            default: return "not a sav command";
        }
    }

    // No route changes: the FIB input of the SAV compiler stays.
    ChangeSet changes(const cmd::Parsed&) const override {
        ChangeSet s = no_route_change();
        s.sav = true;
        return s;
    }

    std::optional<std::string> user(const RunningConfig& cfg, Ref what, const std::string& name) const override {
        if (what != Ref::interface) return std::nullopt;
        for (auto& [p, ifaces] : cfg.sav.allow)
            if (ifaces.count(name)) return fmt::format("sav allow {} interface {} uses it; delete it first", p.str(), name);
        if (cfg.sav.mrt_files.count(name))
            return fmt::format("sav load mrt {} interface {} uses it; delete it first",
                               quote_if_needed(cfg.sav.mrt_files.at(name)), name);
        return std::nullopt;
    }

    std::vector<RenderPart> render_parts() const override { return {{100, render_sav}}; }

    void render_interface(const InterfaceConfig& i, std::string& out) const override {
        if (i.sav_role != sav::Role::customer || i.sav_neighbor_asn)
            out += fmt::format("interface {} sav-role {}{}\n", i.name, sav_role_keyword(i.sav_role),
                               i.sav_neighbor_asn ? fmt::format(" asn {}", i.sav_neighbor_asn) : "");
        if (i.sav != sav::Mechanism::off)
            out += fmt::format("interface {} sav {}{}\n", i.name, sav_mechanism_keyword(i.sav),
                               i.sav_monitor ? " monitor" : "");
    }

    // `sav load` from the CLI: the file is read now, all or nothing.
    std::optional<CommandResult> act_live(Control& control, const cmd::Parsed& c) const override {
        const Cmd cmd = Cmd(c.tag());
        if ((cmd != Cmd::SavLoadMrt && cmd != Cmd::SavLoadRpki) || c.negated) return std::nullopt;
        std::string info;
        auto bad = cmd == Cmd::SavLoadMrt
                       ? control.sav_control().load_mrt(c.word("path"), c.word("ifname"), control.config(),
                                                        control.fib(), info)
                       : control.sav_control().load_rpki(c.word("path"), control.config(), control.fib(), info);
        if (bad) return CommandResult{false, "% " + *bad + "\n"};
        log::info("sav: {}", info);
        return CommandResult{true, info};
    }

    // The startup configuration's files, once its interfaces and lists are in place.
    std::string on_install(Control& control) const override {
        const RunningConfig& cfg = control.config();
        std::string warnings;
        auto load = [&](const std::string& what, std::optional<std::string> bad, const std::string& info) {
            if (bad) {
                log::warn("sav: {}: {}", what, *bad);
                warnings += "% warning: " + *bad + "\n";
            } else {
                log::info("sav: {}", info);
            }
        };
        for (auto& [ifname, path] : cfg.sav.mrt_files) {
            std::string info;
            auto bad = control.sav_control().load_mrt(path, ifname, cfg, control.fib(), info);
            load(path, bad, info);
        }
        if (!cfg.sav.rpki_file.empty()) {
            std::string info;
            auto bad = control.sav_control().load_rpki(cfg.sav.rpki_file, cfg, control.fib(), info);
            load(cfg.sav.rpki_file, bad, info);
        }
        return warnings;
    }

    CommandResult exec(Control& control, const cmd::Parsed& c) const override {
        switch (Cmd(c.tag())) {
            case Cmd::ShowSavInterface: {
                auto text = control.sav().show_interface(c.word("name"), control.config(), control.fib(),
                                                         control.counters());
                if (!text) return {false, fmt::format("% unknown interface {}\n", c.word("name"))};
                return {true, *text};
            }
            case Cmd::ShowSavPrefix:
                return {true, control.sav().show_prefix(c.prefix("prefix"), control.config(), control.fib())};
            default: return Section::exec(control, c);
        }
    }
};

const SavSection kSection;

}  // namespace
}  // namespace rampart::config
