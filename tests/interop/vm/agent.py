#!/usr/bin/env python3
"""agent.py — the peer VM's side of the control channel (a virtio-serial port).

Requests are JSON lines {"id": N, "cmd": "...", "timeout": S}; each runs as
`bash -c cmd` (stdin /dev/null, its own session) and is answered with one JSON
line {"id": N, "rc": RC, "out": b64, "err": b64}. Output goes through files,
not pipes, so a command that leaves a daemon running in the background
(`charon &`) returns at once. A command over its timeout is killed with its
process group and answered with rc 124. One request at a time, in order.
"""
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time


def run(cmd, timeout):
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(["/bin/bash", "-c", cmd], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err, start_new_session=True, cwd="/")
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = 124
            err.write(b"\npeervm agent: command killed after %d s\n" % timeout)
        out.seek(0)
        err.seek(0)
        return rc, out.read(), err.read()


def main():
    fd = os.open(sys.argv[1], os.O_RDWR)
    os.write(fd, b'{"hello": 1}\n')
    pending = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:  # no host client connected: wait for the next one
            time.sleep(0.02)
            continue
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            try:
                req = json.loads(line)
                rc, out, err = run(req["cmd"], float(req.get("timeout", 60)))
                reply = {"id": req["id"], "rc": rc, "out": base64.b64encode(out).decode(),
                         "err": base64.b64encode(err).decode()}
            except (ValueError, KeyError, TypeError) as e:  # a damaged line: say so, keep serving
                reply = {"id": None, "rc": 125, "out": "", "err": base64.b64encode(str(e).encode()).decode()}
            data = (json.dumps(reply) + "\n").encode()
            while data:
                data = data[os.write(fd, data):]


if __name__ == "__main__":
    main()
