#!/bin/bash
# stage2.sh — PID 1 of the peer VM once its root (this machine's userland, read-only,
# under a tmpfs overlay) is in place: the usual pseudo-filesystems, the shared work
# directory, then agent.py on the control port. PID 1 stays this shell, which
# reaps orphans (bash waits for any child on SIGCHLD).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8
cd /
log() { echo "peervm-stage2: $*" >/dev/ttyS0; }
fatal() { log "FATAL: $*"; echo o >/proc/sysrq-trigger; sleep 5; exit 1; }

mount -t proc proc /proc || fatal "proc"
mount -t sysfs sys /sys
mkdir -p /dev/pts /dev/shm
# What udev would have made: bash's process substitution needs /dev/fd.
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
# The checkout (this script's, the agent's and the suites' files) may itself be
# under /tmp or /run, as a CI's clone is: hold it aside before those become the
# VM's own, then put it back at the same path.
checkout="$(cd "$(dirname "$0")/../../.." && pwd)"
mkdir -p /mnt/rampart-checkout
mount --bind "$checkout" /mnt/rampart-checkout || fatal "bind of the checkout $checkout"
mount -t tmpfs -o mode=0755 run /run
mount -t tmpfs -o mode=1777 tmp /tmp
if [[ ! -e $0 ]]; then
    { mkdir -p "$checkout" && mount --bind /mnt/rampart-checkout "$checkout"; } ||
        fatal "the checkout $checkout cannot be put back"
fi
mkdir -p /run/lock /run/netns /var/tmp
mount -t debugfs none /sys/kernel/debug 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null

share= ; port_name=rampart.ctl
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        rampart.share=*) share="${arg#*=}" ;;
    esac
done
# The host's work directory, read-write, at the same path as on the host.
if [[ -n $share ]]; then
    { mkdir -p "$share" && mount -t 9p -o trans=virtio,version=9p2000.L,cache=none,msize=512000 work "$share"; } ||
        fatal "mount of the shared work directory $share"
fi

hostname rampart-peer
echo rampart-peer >/etc/hostname
ip link set lo up
# Nothing of the host's own state: no services, an empty resolv.conf (the VM has no way out).
: >/etc/resolv.conf
modprobe -q virtio_rng 2>/dev/null
modprobe -q tun 2>/dev/null  # /dev/net/tun for TAP users (DPDK net_tap, kernel-libipsec)

port=
for p in /sys/class/virtio-ports/*; do
    [[ "$(cat "$p/name" 2>/dev/null)" == "$port_name" ]] && port="/dev/${p##*/}"
done
[[ -n $port && -c $port ]] || fatal "no virtio-serial port named $port_name"
log "ready: kernel $(uname -r), control port $port"
python3 "$(dirname "$0")/agent.py" "$port" </dev/null >/dev/ttyS0 2>&1 &
agent=$!
while kill -0 "$agent" 2>/dev/null; do wait "$agent"; done
fatal "the agent exited"
