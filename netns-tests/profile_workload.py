"""A sidecar's whole life in two pods, as a profile to lay out the release binary by (Scripts/orderfile).

Pods a, b and c, each with `weft init` and a sidecar with its own identity (mTLS between them),
and an HTTP/1.1 keep-alive server. Pod a's configuration also has a Service whose endpoints are
pods b and c, as in the bench's footprint position. The workload touches what a sidecar runs in
production: start-up, readiness, HTTP over mTLS both ways (to a pod address and to the Service),
an opaque TCP port relayed as bytes, a fixed-rate load and a few hundred idle keep-alive
connections through the Service (Scripts/loadgen, as the bench's), the health, metrics and admin
endpoints, a quiet spell, and drain on SIGTERM.

WEFT_BIN names the binary to run; Scripts/orderfile points it at a wrapper that runs `weft proxy`
under valgrind's callgrind. Exits 0 when every step got the answer it expected.
"""

import json
import os
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import mesh as meshlib  # noqa: E402
import pki  # noqa: E402
from mesh import Mesh  # noqa: E402

SERVICE_IP = "10.96.77.10"
SERVICE_CIDR = "10.96.77.0/24"
SERVICE_PORT = 80
HTTP_PORT = 8080
OPAQUE_PORT = 3306  # one of the default opaque ports: relayed as bytes
ROUNDS = 20  # requests per kind; the profile wants every path, not a rate
LOADGEN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Scripts", "loadgen")
HELD_CONNECTIONS = 200
# An HTTP/1.1 file server that keeps connections open (python3 -m http.server speaks HTTP/1.0 and
# closes each one), as nginx does for the bench.
FILE_SERVER = ("import functools, http.server, sys\n"
               "handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[2])\n"
               "http.server.SimpleHTTPRequestHandler.protocol_version = 'HTTP/1.1'\n"
               "class Server(http.server.ThreadingHTTPServer):\n"
               "    address_family = __import__('socket').AF_INET6\n"
               "Server(('::', int(sys.argv[1])), handler).serve_forever()\n")


def sidecar_yaml(name, creds, mesh_cidrs, service_endpoints=()):
    doc = ("apiVersion: weft.io/v1\nkind: Sidecar\n"
           "metadata: {name: %s, namespace: default, labels: {app: %s}}\nspec:\n"
           "  identity:\n    certificateChain: %s\n    privateKey: %s\n    trustBundle: %s\n"
           "    trustDomain: %s\n"
           "  mesh:\n    cidrs: [%s]\n"
           % (name, name, creds.chain, creds.key, creds.root, pki.TRUST_DOMAIN,
              ", ".join('"%s"' % c for c in mesh_cidrs)))
    if service_endpoints:
        doc += ("---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\n"
                "spec:\n  type: ClusterIP\n  clusterIP: %s\n"
                "  ports: [{name: http, port: %d, targetPort: %d, protocol: TCP}]\n---\n"
                "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
                "metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}\n"
                "addressType: IPv4\nports: [{name: http, port: %d, protocol: TCP}]\n"
                "endpoints:\n%s"
                % (SERVICE_IP, SERVICE_PORT, HTTP_PORT, HTTP_PORT,
                   "".join("  - addresses: [\"%s\"]\n    conditions: {ready: true}\n" % e for e in service_endpoints)))
    return doc


def expect(what, ok, detail=""):
    print("  %-58s %s" % (what, "ok" if ok else "FAILED " + detail), flush=True)
    if not ok:
        raise meshlib.HarnessError("%s: %s" % (what, detail))


def curl(pod, *urls, method=None):
    cmd = ["curl", "-sS", "--noproxy", "*", "--max-time", "60", "-w", "%{http_code}\\n"]
    if method:
        cmd += ["-X", method]
    for url in urls:
        cmd += ["-o", "/dev/null", url]
    res = pod.run(cmd, timeout=120)
    return res.stdout.split(), res.stderr


def opaque_exchange(pod, host, rounds):
    """Opens `rounds` connections to the echo server on OPAQUE_PORT and checks each echo."""
    script = ("import socket, sys\n"
              "ok = 0\n"
              "for i in range(%d):\n"
              "    s = socket.create_connection((%r, %d), timeout=60)\n"
              "    data = bytes(range(256)) * 64\n"
              "    s.sendall(data); s.shutdown(socket.SHUT_WR)\n"
              "    got = b''\n"
              "    while True:\n"
              "        chunk = s.recv(65536)\n"
              "        if not chunk: break\n"
              "        got += chunk\n"
              "    ok += got == data\n"
              "    s.close()\n"
              "print(ok)\n" % (rounds, host, OPAQUE_PORT))
    res = pod.run([meshlib.PYTHON, "-c", script], timeout=300)
    return res.stdout.strip(), res.stderr


ECHO_SERVER = ("import socket, threading\n"
               "srv = socket.socket(socket.AF_INET6); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
               "srv.bind(('::', %d)); srv.listen(64)\n"
               "def serve(c):\n"
               "    while True:\n"
               "        d = c.recv(65536)\n"
               "        if not d: break\n"
               "        c.sendall(d)\n"
               "    c.close()\n"
               "while True:\n"
               "    c, _ = srv.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()\n"
               % OPAQUE_PORT)


def main():
    with Mesh(["a", "b", "c"]) as m:
        a, b, c = m.pod("a"), m.pod("b"), m.pod("c")
        pods = (a, b, c)
        ca = pki.MeshCA(m)
        creds = {p.name: ca.issue(p.name) for p in pods}
        cidrs = ["%s/32" % p.ip4 for p in pods]
        a.run(["ip", "route", "replace", SERVICE_CIDR, "dev", "eth0"], check=True)
        for p in pods:
            p.init_mesh()
        root = tempfile.mkdtemp(prefix="weft-profile-www-", dir=m.log_dir)
        with open(os.path.join(root, "1k.bin"), "wb") as f:
            f.write(os.urandom(1024))
        for p in pods:
            server = p.spawn([meshlib.PYTHON, "-u", "-c", FILE_SERVER, str(HTTP_PORT), root], "http")
            echo = p.spawn([meshlib.PYTHON, "-u", "-c", ECHO_SERVER], "echo")
            p.wait_listen(HTTP_PORT, OPAQUE_PORT, proc=server)
        proxies = {
            "a": a.start_proxy(sidecar_yaml("a", creds["a"], cidrs, service_endpoints=(b.ip4, c.ip4)),
                               ready_timeout=120),
            "b": b.start_proxy(sidecar_yaml("b", creds["b"], cidrs), ready_timeout=120),
            "c": c.start_proxy(sidecar_yaml("c", creds["c"], cidrs), ready_timeout=120),
        }
        print("profile workload: pods a (%s), b (%s) and c (%s), sidecars up" % (a.ip4, b.ip4, c.ip4), flush=True)

        for p in pods:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and curl(p, "http://127.0.0.1:15021/healthz/ready")[0] != ["200"]:
                time.sleep(0.5)
            expect("pod %s: readiness 200" % p.name, curl(p, "http://127.0.0.1:15021/healthz/ready")[0] == ["200"])

        for src, dst in ((a, b), (b, a)):
            url = "http://%s:%d/1k.bin" % (dst.ip4, HTTP_PORT)
            codes, err = curl(src, *([url] * ROUNDS))  # one keep-alive connection
            expect("%s → %s: %d GETs over mTLS, keep-alive" % (src.name, dst.name, ROUNDS),
                   codes == ["200"] * ROUNDS, "%s %s" % (codes, err))
            codes, err = curl(src, "http://%s:%d/missing" % (dst.ip4, HTTP_PORT))
            expect("%s → %s: a 404" % (src.name, dst.name), codes == ["404"], "%s %s" % (codes, err))
            ok, err = opaque_exchange(src, dst.ip4, ROUNDS // 4)
            expect("%s → %s: opaque TCP echoes" % (src.name, dst.name), ok == str(ROUNDS // 4), "%s %s" % (ok, err))
        service = "http://%s:%d/1k.bin" % (SERVICE_IP, SERVICE_PORT)
        codes, err = curl(a, *([service] * ROUNDS))
        expect("a → Service web: %d GETs, routed to b and c" % ROUNDS, codes == ["200"] * ROUNDS, "%s %s" % (codes, err))
        for i in range(4):  # new connections: handshakes, resumption
            codes, err = curl(a, service)
            expect("a → Service web: new connection %d" % (i + 1), codes == ["200"], "%s %s" % (codes, err))

        # The bench's load, smaller: the sidecars may run under callgrind, 50 times slower.
        res = a.run([meshlib.PYTHON, LOADGEN, "rate", "--url", service, "--rate", "100", "--connections", "10",
                     "--warmup", "1", "--seconds", "3"], timeout=120)
        report = json.loads(res.stdout.strip().splitlines()[-1]) if res.stdout.strip() else {}
        expect("a → Service web: Scripts/loadgen rate, 100 req/s over 10 connections",
               res.returncode == 0 and report.get("errors") == 0 and report.get("achieved_rate", 0) > 0,
               "exit %s: %s %s" % (res.returncode, res.stdout[-300:], res.stderr[-300:]))
        hold = a.spawn([meshlib.PYTHON, LOADGEN, "hold", "--url", service, "--connections", str(HELD_CONNECTIONS)],
                       "hold", stdin=True)
        held = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and held is None and hold.alive():
            lines = [l for l in hold.log_lines() if l.startswith("{")]
            held = json.loads(lines[-1]) if lines else None
            time.sleep(0.5)
        expect("a → Service web: %d keep-alive connections held" % HELD_CONNECTIONS,
               held is not None and held.get("open_now") == HELD_CONNECTIONS, "%s %s" % (held, hold.tail(5)))
        hold.popen.stdin.close()
        hold.wait(60)

        for p in pods:
            for url in ("http://127.0.0.1:15090/stats/prometheus", "http://127.0.0.1:15000/stats",
                        "http://127.0.0.1:15000/config_dump", "http://127.0.0.1:15000/certs",
                        "http://127.0.0.1:15000/ready", "http://127.0.0.1:15000/live"):
                codes, err = curl(p, url)
                expect("pod %s: GET %s" % (p.name, url), codes == ["200"],
                       "%s %s" % (codes, err))
        time.sleep(3)  # a quiet spell: timers, housekeeping

        for proxy in proxies.values():  # all drain at once
            proxy.send_signal(signal.SIGTERM)
        for name, proxy in proxies.items():
            rc = proxy.stop(timeout=120)
            expect("pod %s: sidecar drained and exited" % name, rc == 0, "exit %s; %s" % (rc, proxy.tail(10)))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except meshlib.HarnessError as e:
        print("profile workload failed: %s" % e, file=sys.stderr)
        sys.exit(1)
