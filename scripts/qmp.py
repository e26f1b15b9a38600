"""A minimal QMP client for the plain-QEMU scripts in this directory
(qemu-tcg-dirty-repro, qemu-tcg-unplug-repro): connect, negotiate, and
run commands, exiting with QEMU's message on an error."""
import json, socket, sys, time


def qmp(path):
    """Connects to the QMP socket at `path` (waiting up to 10 s for it) and
    returns cmd(name, **args), which runs one command and returns its result."""
    s = socket.socket(socket.AF_UNIX)
    for _ in range(100):
        try:
            s.connect(path)
            break
        except OSError:
            time.sleep(0.1)
    s.settimeout(60)
    f = s.makefile("rwb")
    f.readline()

    def cmd(name, **args):
        f.write(json.dumps({"execute": name, "arguments": args}).encode() + b"\n")
        f.flush()
        while True:
            r = json.loads(f.readline())
            if "return" in r or "error" in r:
                if "error" in r:
                    sys.exit(f"{name}: {r['error']['desc']}")
                return r["return"]

    cmd("qmp_capabilities")
    return cmd
