"""A sidecar's whole life in two pods, as a profile to lay out the release binary by (Scripts/orderfile).

Pods a and b, each with `weft init` and a sidecar with its own identity (mTLS between them). Pod a's
configuration also has a Service whose one endpoint is pod b, as in the bench's footprint position.
The workload touches what a sidecar runs in production: start-up, readiness, HTTP over mTLS both
ways (to a pod address and to the Service), an opaque TCP port relayed as bytes, the health,
metrics and admin endpoints, a quiet spell, and drain on SIGTERM.

WEFT_BIN names the binary to run; Scripts/orderfile points it at a wrapper that runs `weft proxy`
under valgrind's callgrind. Exits 0 when every step got the answer it expected.
"""

import os
import socket
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


def sidecar_yaml(name, creds, mesh_cidrs, service_endpoint=None):
    doc = ("apiVersion: weft.io/v1\nkind: Sidecar\n"
           "metadata: {name: %s, namespace: default, labels: {app: %s}}\nspec:\n"
           "  identity:\n    certificateChain: %s\n    privateKey: %s\n    trustBundle: %s\n"
           "    trustDomain: %s\n"
           "  mesh:\n    cidrs: [%s]\n"
           % (name, name, creds.chain, creds.key, creds.root, pki.TRUST_DOMAIN,
              ", ".join('"%s"' % c for c in mesh_cidrs)))
    if service_endpoint:
        doc += ("---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\n"
                "spec:\n  type: ClusterIP\n  clusterIP: %s\n"
                "  ports: [{name: http, port: %d, targetPort: %d, protocol: TCP}]\n---\n"
                "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
                "metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}\n"
                "addressType: IPv4\nports: [{name: http, port: %d, protocol: TCP}]\n"
                "endpoints:\n  - addresses: [\"%s\"]\n    conditions: {ready: true}\n"
                % (SERVICE_IP, SERVICE_PORT, HTTP_PORT, HTTP_PORT, service_endpoint))
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
    with Mesh(["a", "b"]) as m:
        a, b = m.pod("a"), m.pod("b")
        ca = pki.MeshCA(m)
        creds = {p.name: ca.issue(p.name) for p in (a, b)}
        cidrs = ["%s/32" % a.ip4, "%s/32" % b.ip4]
        a.run(["ip", "route", "replace", SERVICE_CIDR, "dev", "eth0"], check=True)
        for p in (a, b):
            p.init_mesh()
        root = tempfile.mkdtemp(prefix="weft-profile-www-", dir=m.log_dir)
        with open(os.path.join(root, "1k.bin"), "wb") as f:
            f.write(os.urandom(1024))
        for p in (a, b):
            server = p.spawn([meshlib.PYTHON, "-u", "-m", "http.server", str(HTTP_PORT), "--bind", "::",
                              "--directory", root], "http")
            echo = p.spawn([meshlib.PYTHON, "-u", "-c", ECHO_SERVER], "echo")
            p.wait_listen(HTTP_PORT, OPAQUE_PORT, proc=server)
        proxies = {
            "a": a.start_proxy(sidecar_yaml("a", creds["a"], cidrs, service_endpoint=b.ip4), ready_timeout=120),
            "b": b.start_proxy(sidecar_yaml("b", creds["b"], cidrs), ready_timeout=120),
        }
        print("profile workload: pods a (%s) and b (%s), sidecars up" % (a.ip4, b.ip4), flush=True)

        for p in (a, b):
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
        expect("a → Service web: %d GETs, routed to b" % ROUNDS, codes == ["200"] * ROUNDS, "%s %s" % (codes, err))
        for i in range(4):  # new connections: handshakes, resumption
            codes, err = curl(a, service)
            expect("a → Service web: new connection %d" % (i + 1), codes == ["200"], "%s %s" % (codes, err))

        for p in (a, b):
            for url in ("http://127.0.0.1:15090/stats/prometheus", "http://127.0.0.1:15000/stats",
                        "http://127.0.0.1:15000/config_dump", "http://127.0.0.1:15000/certs",
                        "http://127.0.0.1:15000/ready", "http://127.0.0.1:15000/live"):
                codes, err = curl(p, url)
                expect("pod %s: GET %s" % (p.name, url), codes == ["200"],
                       "%s %s" % (codes, err))
        time.sleep(3)  # a quiet spell: timers, housekeeping

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
