"""The harness itself, without Weft: pods reach each other directly, and nothing outlives a mesh."""

import os
import unittest

import mesh as meshlib
from mesh import Mesh
from weftcase import MeshTestCase


class DirectPodToPod(MeshTestCase):
    """Two pods, no `weft init`, no proxies: plain traffic over the bridge, both families."""

    INIT_PODS = ()
    START_PROXIES = False

    def test_curl_reaches_http_server_over_ipv4_and_ipv6(self):
        a, b = self.pod("a"), self.pod("b")
        _, token = self.http_server(b, 8080)
        for host in (b.ip4, meshlib.url_host(b.ip6)):
            res = self.curl(a, "http://%s:8080/hello.txt" % host)
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertEqual(res.stdout.strip(), token)

    def test_echo_and_half_close_directly(self):
        a, b = self.pod("a"), self.pod("b")
        srv = b.spawn_python(["halfclose-server", "--port", "7000"], "halfclose")
        b.wait_listen(7000, proc=srv)
        out = self.app(a, "halfclose-client", "--host", b.ip4, "--port", "7000", "--bytes", str(1 << 20))
        self.assertEqual(out["reply"].split(), ["OK", str(1 << 20), out["sha256"]])

    def test_names_and_addresses(self):
        a, b = self.pod("a"), self.pod("b")
        self.assertNotEqual(a.ns, b.ns)
        self.assertLessEqual(len(self.mesh.bridge), 15)
        self.assertLessEqual(len(a.node_if), 15)
        addrs = a.run(["ip", "-o", "addr", "show", "dev", "eth0"], check=True).stdout
        self.assertIn(a.ip4 + "/24", addrs)
        self.assertIn(a.ip6 + "/64", addrs)
        ula = [line for line in addrs.splitlines() if a.ip6 + "/64" in line][0]
        self.assertNotIn("tentative", ula)  # nodad: usable at once


class Cleanup(unittest.TestCase):
    def test_close_kills_processes_and_deletes_namespaces(self):
        with Mesh(["x", "y"]) as m:
            names = [m.node_ns] + [p.ns for p in m]
            for ns in names:
                self.assertIn(ns, meshlib.list_namespaces())
            sleeper = m.pod("x").spawn(["sleep", "300"], "sleeper")
            # A grandchild that is not our direct child is found through `ip netns pids`.
            m.pod("y").run(["sh", "-c", "setsid sleep 300 >/dev/null 2>&1 < /dev/null &"], check=True)
            pid = sleeper.pid
            grand = meshlib._ns_pids(m.pod("y").ns)
            self.assertTrue(grand)
        left = set(names) & set(meshlib.list_namespaces())
        self.assertEqual(left, set())
        for p in [pid] + grand:
            self.assertFalse(os.path.exists("/proc/%d/status" % p) and "Z" not in _state(p),
                             "process %d survived the mesh" % p)

    def test_logfmt(self):
        rec = meshlib.parse_logfmt('ts=2026-11-28T01:02:03.456Z level=info msg=connection dir=outbound '
                                   'client=10.1.2.3:45678 dst=[fd00::2]:8080 err="no route to host" end=closed')
        self.assertEqual(rec["msg"], "connection")
        self.assertEqual(rec["err"], "no route to host")
        self.assertTrue(meshlib.same_endpoint(rec["dst"], "fd00::2", 8080))
        self.assertTrue(meshlib.same_endpoint("::ffff:10.1.2.3:45678", "10.1.2.3", 45678))
        self.assertFalse(meshlib.same_endpoint("-", "10.1.2.3"))


def _state(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("State:"):
                    return line
    except OSError:
        pass
    return "Z"


if __name__ == "__main__":
    unittest.main()
