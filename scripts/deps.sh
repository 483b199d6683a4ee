#!/usr/bin/env bash
# deps.sh — install what Rampart needs to build, test and run its lab, from
# Debian 12 packages. Idempotent: installs only what is missing.
set -euo pipefail

packages=(
    # toolchain and build
    g++ clang libclang-rt-14-dev meson ninja-build pkg-config
    # libraries
    libdpdk-dev libipsec-mb-dev libssl-dev libboost-program-options-dev libboost-dev
    libfmt-dev catch2 libedit-dev
    # DPDK tools: dpdk-testpmd is the benchmark's reference
    dpdk dpdk-dev
    # lab and interop tests
    iproute2 ethtool iputils-ping python3 procps python3-scapy
    # the interop tests' second oracles: scapy's ESP needs python3-cryptography, tshark dissects MPLS/ESP
    python3-cryptography tshark
    # the IKEv2 interop peer: charon with kernel-libipsec (userspace ESP), swanctl, openssl plugin
    strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-standard-plugins
    # the interop tests' peer VM (tests/interop/vm): qemu, Debian's stock kernel booted with
    # an initramfs made at test time from busybox and the kernel's modules (kmod resolves
    # their dependencies); the same charon, with kernel-netlink (in libstrongswan), runs in it
    qemu-system-x86 linux-image-amd64 busybox-static kmod
    # the RTR cache of the RPKI interop test (tests/interop/rpki.sh)
    stayrtr
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
    echo "deps: all ${#packages[@]} packages present"
    exit 0
fi
SUDO=
if [[ $EUID -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The kernel is for the peer VM only, which needs no initramfs of initramfs-tools' making:
# INITRD=No tells the kernel's postinst hook to skip building one (slow, and pointless here).
$SUDO apt-get update -q
$SUDO env INITRD=No apt-get install -y -q --no-install-recommends "${missing[@]}"
