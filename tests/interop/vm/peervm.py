#!/usr/bin/env python3
"""peervm.py — the host side of the interop tests' peer VM (see README.md here).

  peervm.py boot DIR [--nic NETNS:IFNAME[:MAC]]... [--share PATH] [--mem MB] [--cpus N]
      Supervise one VM until told to stop (run it in the background): Debian's
      stock kernel (linux-image-amd64) with an initramfs built now in DIR, this
      machine's root shared read-only over 9p under a tmpfs overlay, SHARE (the
      test's work directory) read-write at the same path, one virtio-net NIC per
      --nic, each a TAP device created directly inside network namespace NETNS
      ("-": this one) and gone with the VM. No other network: the VM reaches
      nothing but those TAPs. KVM when /dev/kvm opens, else TCG with a warning
      (RAMPART_VM_ACCEL=tcg forces TCG). The supervisor dies with its parent and
      qemu with the supervisor (PR_SET_PDEATHSIG); SIGTERM stops both.
  peervm.py wait DIR [--timeout S]   until the VM's agent answers (FAILS with the reason:
                                      qemu's exit, the console's last lines, or the time-out)
  peervm.py run DIR [--timeout S] CMD  run CMD (bash -c) in the VM; its stdout, stderr
                                      and exit status become ours (124: timed out)
  peervm.py stop DIR                 stop the VM and its supervisor (idempotent)
"""
import argparse
import base64
import ctypes
import fcntl
import json
import lzma
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MODULES = ["virtio_pci", "virtio_net", "virtio_console", "9pnet_virtio", "9p", "overlay"]
CTL_PORT = "rampart.ctl"
TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
libc = ctypes.CDLL(None, use_errno=True)


BOOT_DIR = None  # set by boot: where its error goes for `wait` to report


def die(msg):
    print(f"peervm: {msg}", file=sys.stderr)
    if BOOT_DIR:
        with open(os.path.join(BOOT_DIR, "boot.error"), "w") as f:
            f.write(msg + "\n")
    sys.exit(1)


def kernel_version():
    """The kernel of Debian's linux-image-amd64 (RAMPART_VM_KERNEL overrides)."""
    if os.environ.get("RAMPART_VM_KERNEL"):
        return os.environ["RAMPART_VM_KERNEL"]
    try:
        dep = subprocess.run(["dpkg-query", "-W", "-f=${Depends}", "linux-image-amd64"],
                             capture_output=True, text=True, check=True).stdout
        m = re.search(r"linux-image-(\S+?)(?:\s|,|$)", dep)
        if m and os.path.exists(f"/boot/vmlinuz-{m.group(1)}"):
            return m.group(1)
    except (OSError, subprocess.CalledProcessError):
        pass
    die("no kernel for the peer VM: linux-image-amd64 is not installed (scripts/deps.sh installs it)")


# --- initramfs ---------------------------------------------------------------------

def cpio_newc(entries):
    """entries: (name, mode, data) -> a newc cpio archive (what the kernel unpacks)."""
    out = bytearray()
    for ino, (name, mode, data) in enumerate(entries + [("TRAILER!!!", 0, b"")], start=1):
        nm = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nm), 0))
        out += hdr.encode() + nm
        out += b"\0" * (-len(out) % 4)
        out += data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


def module_files(kver):
    """The modules MODULES need, dependencies first (as modprobe would load them)."""
    order = []
    for mod in MODULES:
        res = subprocess.run(["modprobe", "-S", kver, "--show-depends", mod], capture_output=True, text=True)
        if res.returncode != 0:
            die(f"modprobe -S {kver} --show-depends {mod}: {res.stderr.strip()}")
        for line in res.stdout.splitlines():
            words = line.split()
            if words[:1] == ["insmod"] and words[1] not in order:
                order.append(words[1])
            # "builtin NAME" lines need nothing
    return order


def build_initramfs(kver, path):
    entries = [("bin", 0o40755, b""), ("modules", 0o40755, b"")]
    try:
        with open("/bin/busybox", "rb") as f:
            busybox = f.read()
    except OSError as e:
        die(f"/bin/busybox: {e.strerror} (scripts/deps.sh installs busybox-static)")
    if b"/ld-linux" in busybox[:4096]:  # an ELF interpreter: not the static one
        die("/bin/busybox is dynamically linked; the initramfs needs busybox-static")
    entries.append(("bin/busybox", 0o100755, busybox))
    with open(os.path.join(HERE, "initramfs-init"), "rb") as f:
        entries.append(("init", 0o100755, f.read()))
    names = []
    for src in module_files(kver):
        with open(src, "rb") as f:
            data = f.read()
        base = os.path.basename(src)
        if base.endswith(".xz"):
            data, base = lzma.decompress(data), base[:-3]
        elif base.endswith(".zst"):
            data = subprocess.run(["zstd", "-dc", src], capture_output=True, check=True).stdout
            base = base[:-4]
        entries.append((f"modules/{base}", 0o100644, data))
        names.append(base)
    entries.append(("modules/order", 0o100644, ("\n".join(names) + "\n").encode()))
    with open(path, "wb") as f:
        f.write(cpio_newc(entries))


# --- boot ----------------------------------------------------------------------------

def setns(fd):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def open_tap(netns, ifname):
    """A TAP device IFNAME created inside NETNS; it lives as long as the returned fd."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        if netns != "-":
            target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
            try:
                setns(target)
            finally:
                os.close(target)
        fd = os.open("/dev/net/tun", os.O_RDWR)
        ifr = struct.pack("16sH", ifname.encode(), IFF_TAP | IFF_NO_PI).ljust(40, b"\0")
        try:
            fcntl.ioctl(fd, TUNSETIFF, ifr)
        except OSError as e:
            os.close(fd)
            raise OSError(e.errno, f"TUNSETIFF {ifname} in {netns}: {e.strerror}") from None
        return fd
    finally:
        setns(own)
        os.close(own)


KVM_PROBE_SECONDS = 6


def console_has(d, what):
    try:
        with open(os.path.join(d, "console.log"), "rb") as f:
            return what in f.read()
    except OSError:
        return False


def kvm_usable():
    if os.environ.get("RAMPART_VM_ACCEL", "") == "tcg":
        return False, "RAMPART_VM_ACCEL=tcg"
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
        return True, ""
    except OSError as e:
        return False, f"/dev/kvm: {e.strerror}"


def boot(args):
    global BOOT_DIR
    d = BOOT_DIR = os.path.abspath(args.dir)
    os.makedirs(d, exist_ok=True)
    # Die with whoever started us (a test script killed hard leaves no VM behind);
    # started detached (by hand, parent init), live until `stop`.
    if os.getppid() != 1:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    for f in ("ctl.sock", "qemu.pid", "qemu.exit", "console.log", "boot.error"):
        try:
            os.unlink(os.path.join(d, f))
        except FileNotFoundError:
            pass
    with open(os.path.join(d, "supervisor.pid"), "w") as f:
        f.write(f"{os.getpid()}\n")
    kver = kernel_version()
    build_initramfs(kver, os.path.join(d, "initramfs.cpio"))
    append = ["console=ttyS0", "rdinit=/init", "panic=-1", "loglevel=5", "8250.nr_uarts=1",
              f"rampart.stage2={HERE}/stage2.sh"] + os.environ.get("RAMPART_VM_APPEND", "").split()
    common = ["-name", "rampart-peer", "-nodefaults", "-no-user-config",
              "-display", "none", "-vga", "none", "-no-reboot",
              "-smp", str(args.cpus), "-m", str(args.mem),
              "-kernel", f"/boot/vmlinuz-{kver}", "-initrd", os.path.join(d, "initramfs.cpio"),
              "-serial", f"file:{d}/console.log", "-pidfile", f"{d}/qemu.pid",
              "-fsdev", "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap",
              "-device", "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot",
              "-chardev", f"socket,id=ctl,path={d}/ctl.sock,server=on,wait=off",
              "-device", "virtio-serial-pci", "-device", f"virtserialport,chardev=ctl,name={CTL_PORT}",
              "-device", "virtio-rng-pci"]
    if args.share:
        share = os.path.abspath(args.share)
        common += ["-fsdev", f"local,id=work,path={share},security_model=none,multidevs=remap",
                   "-device", "virtio-9p-pci,fsdev=work,mount_tag=work"]
        append.append(f"rampart.share={share}")
    fds = []
    for i, spec in enumerate(args.nic):
        parts = spec.split(":", 2)
        if len(parts) < 2:
            die(f"--nic {spec}: want NETNS:IFNAME[:MAC]")
        mac = parts[2] if len(parts) == 3 else "52:54:00:%02x:%02x:%02x" % (random.randrange(256), 0xee, i)
        try:
            fd = open_tap(parts[0], parts[1])
        except OSError as e:
            die(f"--nic {spec}: {e}")
        fds.append(fd)
        # No vnet header: the guest checksums and segments itself, so what reaches the
        # TAP (and an af_packet port on it) are plain wire-sized frames.
        common += ["-netdev", f"tap,id=n{i},fd={fd},vhost=off",
                   "-device", f"virtio-net-pci,netdev=n{i},mac={mac}"]
    common += ["-append", " ".join(append)]

    def child_setup():
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    qemu = None

    def start(accel):
        nonlocal qemu
        for f in ("console.log", "qemu.pid"):
            try:
                os.unlink(os.path.join(d, f))
            except FileNotFoundError:
                pass
        # -cpu host without arch-capabilities: some (nested) KVM hosts refuse MSR 0x10a.
        cpu = ["-machine", "pc,accel=kvm", "-cpu", "host,-arch-capabilities"] if accel == "kvm" else \
              ["-machine", "pc,accel=tcg", "-cpu", "max"]
        cmd = ["qemu-system-x86_64"] + cpu + common
        with open(os.path.join(d, "qemu.cmd"), "w") as f:
            f.write(" ".join(cmd) + "\n")
        with open(os.path.join(d, "accel"), "w") as f:
            f.write(accel + "\n")
        qemu = subprocess.Popen(cmd, pass_fds=fds, preexec_fn=child_setup, stdin=subprocess.DEVNULL,
                                stdout=open(os.path.join(d, "qemu.log"), "a"), stderr=subprocess.STDOUT)

    def halt():
        if qemu is not None and qemu.poll() is None:
            qemu.terminate()
            try:
                qemu.wait(5)
            except subprocess.TimeoutExpired:
                qemu.kill()
                qemu.wait()

    # The handler only records the signal: waiting for qemu inside it could deadlock
    # with the wait it interrupted (Popen's wait lock).
    stop_signal = []
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, lambda signum, _frame: stop_signal.append(signum))

    kvm, why = kvm_usable()
    # A KVM that failed the probe fails it again until the host reboots: remember why.
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            probe_note = f"/tmp/rampart-peervm-kvm-failed.{f.read().strip()}.{kver}"
    except OSError:
        probe_note = None
    if kvm and probe_note and os.path.exists(probe_note):
        with open(probe_note) as f:
            kvm, why = False, f.read().strip() + " (probed earlier since this boot)"
    if kvm:
        start("kvm")
        # A KVM that opens may still not run this kernel (seen on nested hosts: stuck in
        # the decompressor): no "Linux version" on the console in time means TCG.
        deadline = time.monotonic() + KVM_PROBE_SECONDS
        while time.monotonic() < deadline and qemu.poll() is None and not stop_signal and \
                not console_has(d, b"Linux version"):
            time.sleep(0.05)
        if not console_has(d, b"Linux version"):
            why = (f"/dev/kvm opens but the kernel printed nothing under KVM in {KVM_PROBE_SECONDS} s"
                   if qemu.poll() is None else f"qemu under KVM exited with status {qemu.returncode}")
            halt()
            kvm = False
            if probe_note:
                with open(probe_note, "w") as f:
                    f.write(why + "\n")
    if not kvm:
        bar = "!" * 78
        print(f"{bar}\nWARNING: peer VM under TCG (software emulation): {why}.\n"
              f"WARNING: expect boots of 10-30 s and slow traffic; the suites scale their timeouts.\n{bar}",
              file=sys.stderr)
        with open(os.path.join(d, "tcg.reason"), "w") as f:
            f.write(why + "\n")
        start("tcg")
    for fd in fds:
        os.close(fd)  # qemu holds the TAPs now: they go when it does
    stopping_since = None
    while True:
        try:
            rc = qemu.wait(0.2)
            break
        except subprocess.TimeoutExpired:
            pass
        if stop_signal and stopping_since is None:
            stopping_since = time.monotonic()
            qemu.terminate()
        elif stopping_since is not None and time.monotonic() - stopping_since > 5:
            qemu.kill()
    with open(os.path.join(d, "qemu.exit"), "w") as f:
        f.write(f"{rc}\n")
    return 128 + stop_signal[0] if stop_signal else 0


# --- control channel -------------------------------------------------------------------

class AgentTimeout(Exception):
    pass


def request(d, cmd, timeout, connect_timeout=None):
    """Run CMD in the VM: (rc, out, err). The agent answers requests in order; a
    reply with another id (left over from an abandoned request) is skipped."""
    rid = random.getrandbits(48)
    deadline = time.monotonic() + timeout + 5
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(connect_timeout or timeout + 5)
        s.connect(os.path.join(d, "ctl.sock"))
        s.sendall((json.dumps({"id": rid, "cmd": cmd, "timeout": timeout}) + "\n").encode())
        buf = b""
        while True:
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if msg.get("id") == rid:
                    return msg["rc"], base64.b64decode(msg["out"]), base64.b64decode(msg["err"])
            left = deadline - time.monotonic()
            if left <= 0:
                raise AgentTimeout()
            s.settimeout(min(left, connect_timeout or left))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                raise AgentTimeout() from None
            if not chunk:
                raise ConnectionError("the VM closed the control channel")
            buf += chunk
    finally:
        s.close()


def pid_alive(pidfile):
    try:
        with open(pidfile) as f:
            os.kill(int(f.read()), 0)
        return True
    except (OSError, ValueError):
        return False


def console_tail(d, n=25):
    try:
        with open(os.path.join(d, "console.log"), errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    try:
        with open(os.path.join(d, "qemu.log"), errors="replace") as f:
            lines += ["qemu: " + l for l in f.read().splitlines()]
    except OSError:
        pass
    return "\n".join("    " + l for l in lines[-n:])


def wait(args):
    d = os.path.abspath(args.dir)
    start = time.monotonic()
    deadline = start + args.timeout
    why = "timed out"
    while time.monotonic() < deadline:
        if os.path.exists(os.path.join(d, "qemu.exit")):
            with open(os.path.join(d, "qemu.exit")) as f:
                why = f"qemu exited (status {f.read().strip()})"
            break
        if os.path.exists(os.path.join(d, "boot.error")):
            with open(os.path.join(d, "boot.error")) as f:
                why = f.read().strip()
            break
        if not pid_alive(os.path.join(d, "supervisor.pid")) and time.monotonic() > start + 5:
            why = "the VM's supervisor (peervm.py boot) is not running"
            break
        try:
            rc, out, _ = request(d, "uname -r", 2, connect_timeout=1)
            if rc == 0:
                accel = open(os.path.join(d, "accel")).read().strip()
                print(f"peer VM ready in {time.monotonic() - start:.1f} s ({accel}), kernel {out.decode().strip()}")
                return 0
        except (OSError, AgentTimeout, ConnectionError):
            pass
        time.sleep(0.1)
    else:
        why = f"no answer from the VM's agent within {args.timeout:.0f} s"
    print(f"peervm: the peer VM did not boot: {why}; console:\n{console_tail(d)}", file=sys.stderr)
    return 1


def run(args):
    d = os.path.abspath(args.dir)
    try:
        rc, out, err = request(d, args.cmd, args.timeout)
    except AgentTimeout:
        print(f"peervm: no answer from the VM within {args.timeout + 5:.0f} s: {args.cmd}", file=sys.stderr)
        return 124
    except (OSError, ConnectionError) as e:
        print(f"peervm: control channel: {e}", file=sys.stderr)
        return 125
    sys.stdout.buffer.write(out)
    sys.stdout.flush()
    sys.stderr.buffer.write(err)
    return rc


def running(pid):
    """PID is a live process (a zombie is not: its parent has yet to reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop(args):
    d = os.path.abspath(args.dir)
    pids = []
    for name in ("supervisor.pid", "qemu.pid"):
        try:
            with open(os.path.join(d, name)) as f:
                pids.append(int(f.read()))
        except (OSError, ValueError):
            pass
    # The supervisor stops qemu (TERM, KILL after 5 s); qemu is signalled too in case
    # the supervisor is gone. Then KILL whatever is left after 7 s.
    for sig, wait_s in ((signal.SIGTERM, 7), (signal.SIGKILL, 2)):
        live = [p for p in pids if running(p)]
        if not live:
            return 0
        for p in live:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        end = time.monotonic() + wait_s
        while time.monotonic() < end and any(running(p) for p in live):
            time.sleep(0.05)
    return 0 if not any(running(p) for p in pids) else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    b = sub.add_parser("boot")
    b.add_argument("dir")
    b.add_argument("--nic", action="append", default=[])
    b.add_argument("--share")
    b.add_argument("--mem", type=int, default=int(os.environ.get("RAMPART_VM_MEM", "1024")))
    b.add_argument("--cpus", type=int, default=int(os.environ.get("RAMPART_VM_CPUS", "1")))
    w = sub.add_parser("wait")
    w.add_argument("dir")
    w.add_argument("--timeout", type=float, default=30)
    r = sub.add_parser("run")
    r.add_argument("dir")
    r.add_argument("--timeout", type=float, default=60)
    r.add_argument("cmd")
    s = sub.add_parser("stop")
    s.add_argument("dir")
    a = p.parse_args()
    return {"boot": boot, "wait": wait, "run": run, "stop": stop}[a.what](a)


if __name__ == "__main__":
    sys.exit(main())
