# shellcheck shell=bash
# peer-vm.sh — the interop tests' peer VM from a shell (see README.md here).
# Source it, then:
#   vm_start DIR [NETNS:IFNAME[:MAC]]...   boot (Debian's stock kernel, this machine's
#                     userland read-only under a tmpfs overlay, DIR shared read-write at the
#                     same path); one virtio-net NIC per argument, a TAP made inside NETNS
#                     (full namespace name, "-" = this one); the guest names them eth0, eth1...
#                     in that order. Waits for the agent; on failure prints why and returns 1.
#   vm_run [-t SECONDS] CMD                bash -c CMD in the VM: its output and exit status
#   vm_stop                                the VM down, its TAPs gone (idempotent; run it
#                     before deleting the namespaces that hold the TAPs)
#   vm_slow N                              N, times VM_SLOWDOWN (1 under KVM, 4 under TCG):
#                     for timeouts of things that run in the VM
# VM_CPUS / VM_MEM (MB) size the VM (default 1 and 1024). RAMPART_VM_ACCEL=tcg forces TCG.

PEERVM_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PEERVM_PY="$PEERVM_HERE/peervm.py"
VM_DIR=
VM_SUPERVISOR_PID=
VM_SLOWDOWN=1

vm_start() {
    local dir="$1" nic args=(); shift
    for nic in "$@"; do args+=(--nic "$nic"); done
    VM_DIR="$dir/vm"
    mkdir -p "$VM_DIR" || return 1
    python3 "$PEERVM_PY" boot "$VM_DIR" --share "$dir" --cpus "${VM_CPUS:-1}" --mem "${VM_MEM:-1024}" "${args[@]}" \
        2> >(tee "$VM_DIR/supervisor.log" >&2) &
    VM_SUPERVISOR_PID=$!
    # 30 s is plenty under KVM; TCG on a busy 2-core host has taken 25 s.
    python3 "$PEERVM_PY" wait "$VM_DIR" --timeout "${VM_BOOT_TIMEOUT:-150}" || return 1
    [[ "$(cat "$VM_DIR/accel")" == kvm ]] || VM_SLOWDOWN=4
}

vm_run() {
    local timeout=60
    if [[ $1 == -t ]]; then timeout="$2"; shift 2; fi
    [[ -n $VM_DIR ]] || { echo "vm_run: no VM (vm_start first)" >&2; return 125; }
    python3 "$PEERVM_PY" run "$VM_DIR" --timeout "$timeout" "$*"
}

vm_slow() { echo $(($1 * VM_SLOWDOWN)); }

vm_stop() {
    [[ -n $VM_DIR ]] || return 0
    python3 "$PEERVM_PY" stop "$VM_DIR" 2>/dev/null
    if [[ -n $VM_SUPERVISOR_PID ]]; then
        local i
        for ((i = 0; i < 50; i++)); do kill -0 "$VM_SUPERVISOR_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$VM_SUPERVISOR_PID" 2>/dev/null
        wait "$VM_SUPERVISOR_PID" 2>/dev/null
    fi
    VM_SUPERVISOR_PID=
}
