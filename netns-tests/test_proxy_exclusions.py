"""What bypasses the outbound sidecar, and that the sidecar's own connections never loop.

Pod a runs `weft init --exclude-outbound-ports 9000 --exclude-outbound-cidrs <c>/32,<c>/128`;
pods b and c run `weft init` with defaults. Inbound capture in b and c is unaffected by a's flags.
"""

import time
import unittest

from mesh import same_endpoint, url_host
from weftcase import MeshTestCase


def to(host, port):
    return lambda r: same_endpoint(r.get("dst"), host, port)


class Exclusions(MeshTestCase):
    PODS = ("a", "b", "c")
    INIT_ARGS = {
        "a": lambda mesh: ["--exclude-outbound-ports", "9000",
                           "--exclude-outbound-cidrs", "%s/32,%s/128" % (mesh.pod("c").ip4, mesh.pod("c").ip6)],
    }

    def test_excluded_port_bypasses_outbound_proxy(self):
        a, b = self.pod("a"), self.pod("b")
        pa, pb = self.proxy("a"), self.proxy("b")
        _, token = self.http_server(b, 9000)
        before = a.nft_rule("output", "9000", "return")["packets"]
        res = self.curl(a, "http://%s:9000/hello.txt" % b.ip4)
        self.assertEqual(res.stdout.strip(), token, res.stderr)
        # b's inbound capture still applies; a's outbound proxy never saw the connection.
        rec = pb.wait_records(to(b.ip4, 9000), dir="inbound")[0]
        self.assertEndpoint(rec["client"], a.ip4)
        time.sleep(0.3)
        self.assertEqual(pa.connection_records(), [], "port 9000 is excluded from outbound capture")
        after = a.nft_rule("output", "9000", "return")["packets"]
        self.assertGreater(after, before, "the exclude-port rule's counter should count the bypass")

    def test_excluded_cidr_bypasses_outbound_proxy(self):
        a, c = self.pod("a"), self.pod("c")
        pa, pc = self.proxy("a"), self.proxy("c")
        _, token = self.http_server(c, 8080)
        before4 = a.nft_rule("output", c.ip4, "return")["packets"]
        before6 = a.nft_rule("output", c.ip6, "return")["packets"]
        for host in (c.ip4, c.ip6):
            res = self.curl(a, "http://%s:8080/hello.txt" % url_host(host))
            self.assertEqual(res.stdout.strip(), token, res.stderr)
            pc.wait_records(to(host, 8080), dir="inbound")
        time.sleep(0.3)
        self.assertEqual(pa.connection_records(), [], "c's addresses are excluded from outbound capture")
        self.assertGreater(a.nft_rule("output", c.ip4, "return")["packets"], before4)
        self.assertGreater(a.nft_rule("output", c.ip6, "return")["packets"], before6)

    def test_proxy_connections_are_not_looped(self):
        a, b = self.pod("a"), self.pod("b")
        pa, pb = self.proxy("a"), self.proxy("b")
        _, token = self.http_server(b, 8080)
        n = 5
        for _ in range(n):
            res = self.curl(a, "http://%s:8080/hello.txt" % b.ip4)
            self.assertEqual(res.stdout.strip(), token, res.stderr)
        pa.wait_records(to(b.ip4, 8080), dir="outbound", count=n)
        pb.wait_records(to(b.ip4, 8080), dir="inbound", count=n)
        time.sleep(0.5)
        # Exactly one record per client connection on each side, none anywhere else.
        self.assertEqual(len(pa.connection_records()), n, pa.connection_records())
        self.assertEqual(len(pb.connection_records()), n, pb.connection_records())
        self.assertEqual(len(pa.connection_records(dir="outbound", end="closed")), n)
        self.assertEqual(len(pb.connection_records(dir="inbound", end="closed")), n)
        for p in (pa, pb, self.proxy("c")):
            bad = [r for r in p.connection_records() if r.get("end") in ("loop", "not-redirected")]
            self.assertEqual(bad, [])


if __name__ == "__main__":
    unittest.main()
