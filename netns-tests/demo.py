"""Weft in two pods, end to end, for a first-time user (run by Scripts/demo, as root).

Builds a node namespace with a bridge and pods a and b, runs `weft init` and `weft proxy` (uid 1337)
in both, serves a file from pod b with python3 -m http.server, fetches it from pod a with an
unmodified curl, and shows the ruleset and both sidecars' log lines for that connection. Everything
is removed at the end, also on Ctrl-C.
"""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import mesh as meshlib  # noqa: E402
from mesh import Mesh  # noqa: E402


def step(text):
    print("\n\033[1m==> %s\033[0m" % text if sys.stdout.isatty() else "\n==> %s" % text, flush=True)


def main():
    with Mesh(["a", "b"]) as m:
        a, b = m.pod("a"), m.pod("b")
        step("pods (network namespaces on one bridge)")
        for p in (a, b):
            print("  %s  %-12s %-22s netns %s" % (p.name, p.ip4, p.ip6, p.ns))

        step("weft init in both pods (nftables interception), weft proxy in both (uid 1337, no capabilities)")
        for p in (a, b):
            p.init_mesh()
        proxies = {p.name: p.start_proxy() for p in (a, b)}
        print("  both sidecars listen on 15001 (outbound) and 15006 (inbound)")

        step("pod b: python3 -m http.server 8080")
        root = tempfile.mkdtemp(prefix="weft-demo-www-", dir=m.log_dir)
        with open(os.path.join(root, "hello.txt"), "w") as f:
            f.write("Hello from pod b, through two Weft sidecars.\n")
        server = b.spawn([meshlib.PYTHON, "-u", "-m", "http.server", "8080", "--bind", "::", "--directory", root], "http")
        b.wait_listen(8080, proc=server)

        url = "http://%s:8080/hello.txt" % b.ip4
        step("pod a: curl -sS %s" % url)
        res = a.run(["curl", "-sS", "--noproxy", "*", "--max-time", "10", url], timeout=20)
        sys.stdout.write(res.stdout + res.stderr)
        if res.returncode != 0:
            print("  curl failed (exit %s)" % res.returncode)

        step("pod a's interception rules (nft list table inet weft)")
        print(a.run(["nft", "list", "table", "inet", "weft"]).stdout.rstrip())

        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (proxies["a"].connection_records() and proxies["b"].connection_records()):
            time.sleep(0.05)
        for name, what in (("a", "outbound: curl -> pod b"), ("b", "inbound: pod a -> http.server")):
            step("pod %s's sidecar log for the connection (%s)" % (name, what))
            # The access log: one JSON line per HTTP request and one per connection.
            lines = [l for l in proxies[name].log_lines() if l.startswith("{")]
            print("\n".join(lines) if lines else "  (no access log line; full log:)\n" + proxies[name].tail(15))

        step("what http.server in pod b saw (the inbound sidecar connects from 127.0.0.6)")
        print("\n".join(l for l in server.log_lines() if "GET " in l))

        step("cleaning up (processes, namespaces)")
    print("  done; logs are in %s" % m.log_dir)
    return 0 if res.returncode == 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; everything was cleaned up")
        sys.exit(130)
    except meshlib.HarnessError as e:
        print("demo failed: %s" % e, file=sys.stderr)
        sys.exit(1)
