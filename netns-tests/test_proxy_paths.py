"""Scenarios for one connection through both sidecars: unmodified apps in pod a talk to pod b.

Every pod ran `weft init` (defaults) and runs a fresh `weft proxy` (uid 1337, no capabilities) for
each test. The applications run as root, so their connections are intercepted.
"""

import hashlib
import signal
import time
import unittest

from mesh import same_endpoint, split_hostport, url_host
from weftcase import MeshTestCase

HTTP_PORT = 8080


def to(host, port):
    """A predicate for connection records whose original destination is host:port."""
    return lambda r: same_endpoint(r.get("dst"), host, port)


class ThroughBothSidecars(MeshTestCase):
    PODS = ("a", "b")

    def _http_roundtrip(self, host, client_src, peer_seen):
        """curl in a -> http.server in b at `host`; checks the body, both proxies' records and
        the address the server saw. Returns (outbound record in a, inbound record in b)."""
        a, b = self.pod("a"), self.pod("b")
        pa, pb = self.proxy("a"), self.proxy("b")
        srv, token = self.http_server(b, HTTP_PORT)
        res = self.curl(a, "http://%s:%d/hello.txt" % (url_host(host), HTTP_PORT))
        self.assertEqual(res.returncode, 0, "curl failed: %s" % res.stderr)
        self.assertEqual(res.stdout.strip(), token)

        out = pa.wait_records(to(host, HTTP_PORT), dir="outbound")
        inn = pb.wait_records(to(host, HTTP_PORT), dir="inbound")
        time.sleep(0.3)  # let any duplicate or looped record show up before counting
        out = pa.connection_records(dir="outbound")
        inn = pb.connection_records(dir="inbound")
        self.assertEqual(len(out), 1, "a's proxy should log exactly one outbound connection: %s" % out)
        self.assertEqual(len(inn), 1, "b's proxy should log exactly one inbound connection: %s" % inn)
        self.assertEqual(pa.connection_records(dir="inbound"), [], "nothing comes into a")
        self.assertEqual(pb.connection_records(dir="outbound"), [], "b's proxy must not loop through its own outbound listener")
        o, i = out[0], inn[0]

        self.assertEqual(o["end"], "closed", o)
        self.assertEqual(i["end"], "closed", i)
        self.assertEndpoint(o["client"], client_src, msg="outbound client is curl's address: %s" % o)
        self.assertEndpoint(i["client"], client_src, msg="inbound client is pod a's address: %s" % i)
        self.assertEndpoint(i["dst"], host, HTTP_PORT)
        for rec in (o, i):
            # curl speaks HTTP/1.1: both sidecars proxy it at L7.
            self.assertEqual(rec.get("protocol"), "http/1.1", rec)
            self.assertEqual(rec.get("relay"), "http", rec)
            self.assertIn("worker", rec)
            self.assertGreaterEqual(int(rec["duration_ms"]), 0)
        for proxy, direction in ((pa, "outbound"), (pb, "inbound")):
            reqs = proxy.request_records(dir=direction)
            self.assertEqual(len(reqs), 1, reqs)
            self.assertEqual((reqs[0]["method"], reqs[0]["path"], reqs[0]["status"]), ("GET", "/hello.txt", "200"), reqs[0])
        # Both sidecars forward the same normalized messages, except that the outbound one adds
        # the request's ids: "x-request-id: <36-char UUID>\r\n" (52 bytes) and
        # "traceparent: <55 chars>\r\n" (70 bytes).
        self.assertGreater(int(o["sent"]), 0)
        self.assertGreater(int(o["received"]), len(token))
        self.assertEqual(int(i["sent"]) - int(o["sent"]), 52 + 70, (o, i))
        self.assertEqual(o["received"], i["received"])

        line = srv.wait_for_log(r'"GET /hello.txt HTTP/1\.\d" 200')
        self.assertTrue(line.startswith(peer_seen + " ") or line.startswith("::ffff:" + peer_seen + " "),
                        "the server should see the inbound passthrough address %s, saw: %s" % (peer_seen, line))
        return o, i

    def test_curl_reaches_http_server_over_ipv4(self):
        a, b = self.pod("a"), self.pod("b")
        self._http_roundtrip(b.ip4, a.ip4, "127.0.0.6")
        # Start-up lines of the contract: one `listening` per worker, then `ready`; and the
        # sidecar really runs as uid/gid 1337 with no capabilities at all.
        for p in (self.proxy("a"), self.proxy("b")):
            with open("/proc/%d/status" % p.pid) as f:
                status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
            self.assertEqual(status["Name"], "weft")
            self.assertEqual(status["Uid"].split(), ["1337"] * 4)
            self.assertEqual(status["Gid"].split(), ["1337"] * 4)
            for caps in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
                self.assertEqual(int(status[caps], 16), 0, caps)
            events = p.events()
            ready = [e for e in events if e.get("msg") == "ready"]
            self.assertEqual(len(ready), 1, events[:6])
            listening = [e for e in events if e.get("msg") == "listening"]
            self.assertEqual(len(listening), int(ready[0]["workers"]), events[:6])

    def test_curl_reaches_http_server_over_ipv6(self):
        a, b = self.pod("a"), self.pod("b")
        o, i = self._http_roundtrip(b.ip6, a.ip6, "::6")
        self.assertEqual(str(split_hostport(o["dst"])[0]), b.ip6)

    def test_half_close_reply_arrives_after_client_eof(self):
        a, b = self.pod("a"), self.pod("b")
        srv = b.spawn_python(["halfclose-server", "--port", "7000"], "halfclose-server")
        b.wait_listen(7000, proc=srv)
        size = 16 << 20
        out = self.app(a, "halfclose-client", "--host", b.ip4, "--port", "7000", "--bytes", str(size))
        self.assertEqual(out["sent"], size)
        self.assertEqual(out["reply"].split(), ["OK", str(size), out["sha256"]],
                         "the server must get every byte and its reply must come back after the client's FIN")
        rec = self.proxy("a").wait_records(to(b.ip4, 7000), dir="outbound")[0]
        self.assertEqual(rec["end"], "closed", rec)
        self.assertEqual(int(rec["sent"]), size, rec)
        self.assertEqual(int(rec["received"]), len(out["reply"]), rec)
        rec = self.proxy("b").wait_records(to(b.ip4, 7000), dir="inbound")[0]
        self.assertEqual(rec["end"], "closed", rec)
        self.assertEqual(int(rec["sent"]), size, rec)
        # The same with an unmodified nc: -N shuts down the write side at EOF on stdin.
        data = "".join("line %d of the nc client\n" % i for i in range(20000))
        res = a.run(["nc", "-N", "-w", "10", b.ip4, "7000"], input=data, timeout=20)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout.split(), ["OK", str(len(data)), hashlib.sha256(data.encode()).hexdigest()])

    def test_server_speaks_first(self):
        a, b = self.pod("a"), self.pod("b")
        srv = b.spawn_python(["banner-server", "--port", "2525", "--banner", "smtp.b.example ESMTP ready"], "banner-server")
        b.wait_listen(2525, proc=srv)
        out = self.app(a, "banner-client", "--host", b.ip4, "--port", "2525")
        self.assertEqual(out["banner"], "220 smtp.b.example ESMTP ready\r\n")
        self.assertLess(out["banner_s"], 2.0, "the banner must not wait for client bytes (protocol detection)")
        self.assertEqual(out["reply"], "ECHO hello from the client\n")
        rec = self.proxy("a").wait_records(to(b.ip4, 2525), dir="outbound")[0]
        self.assertEqual(rec["end"], "closed", rec)

    def test_closed_port_fails_promptly(self):
        a, b = self.pod("a"), self.pod("b")
        self.assertNotIn(8099, b.listening_ports())
        out = self.app(a, "probe-client", "--host", b.ip4, "--port", "8099", "--timeout", "8")
        self.assertIn(out["outcome"], ("refused", "reset"),
                      "a connection to a closed port must end in a refusal or a reset, not %s" % out)
        self.assertLess(out["elapsed"], 5.0, out)
        rb = self.proxy("b").wait_records(to(b.ip4, 8099), dir="inbound")[0]
        self.assertEqual(rb["end"], "upstream-refused", rb)
        ra = self.proxy("a").wait_records(to(b.ip4, 8099), dir="outbound")[0]
        self.assertIn(ra["end"], ("upstream-refused", "upstream-reset"), ra)
        # The same over IPv6.
        out = self.app(a, "probe-client", "--host", b.ip6, "--port", "8099", "--timeout", "8")
        self.assertIn(out["outcome"], ("refused", "reset"), out)
        self.assertLess(out["elapsed"], 5.0, out)

    def test_fail_closed_when_the_proxy_is_gone(self):
        a, b = self.pod("a"), self.pod("b")
        pa, pb = self.proxy("a"), self.proxy("b")
        srv, token = self.http_server(b, HTTP_PORT)
        res = self.curl(a, "http://%s:%d/hello.txt" % (b.ip4, HTTP_PORT))
        self.assertEqual(res.stdout.strip(), token, res.stderr)
        srv.wait_for_log("GET /hello.txt")
        pb.wait_records(dir="inbound")

        pa.kill()
        served, inbound = len(srv.log_lines()), len(pb.connection_records())
        for host in (b.ip4, url_host(b.ip6)):
            res = self.curl(a, "http://%s:%d/hello.txt" % (host, HTTP_PORT), timeout=8)
            self.assertEqual(res.returncode, 7, "curl must fail to connect (exit 7), got %s: %s%s"
                             % (res.returncode, res.stdout, res.stderr))
            self.assertLess(res.elapsed, 5.0)
        out = self.app(a, "probe-client", "--host", b.ip4, "--port", str(HTTP_PORT), "--timeout", "4")
        self.assertEqual(out["outcome"], "refused", out)
        time.sleep(0.5)
        self.assertEqual(srv.log_lines()[served:], [], "the application traffic bypassed the dead sidecar")
        self.assertEqual(pb.connection_records()[inbound:], [], "b's proxy saw traffic that bypassed a's")

    def test_sigterm_drains_live_connections_and_outbound_keeps_working(self):
        a, b = self.pod("a"), self.pod("b")
        pa = self.proxy("a")
        srv = b.spawn_python(["drip-server", "--port", "7100", "--chunks", "12", "--interval", "0.25"], "drip-server")
        b.wait_listen(7100, proc=srv)
        client = a.spawn_python(["drip-client", "--host", b.ip4, "--port", "7100"], "drip-client")
        self.wait_line(client, "STARTED", timeout=10)

        pa.expected_dead = True
        pa.send_signal(signal.SIGTERM)
        pa.wait_for_log(r"msg=draining", timeout=5)
        # Outbound keeps working during the drain (the application may need it to shut down).
        probe = self.app(a, "probe-client", "--host", b.ip4, "--port", "7100", "--timeout", "3")
        self.assertEqual(probe["outcome"], "data", probe)
        self.assertTrue(client.alive(), "the live connection must not be cut by SIGTERM")

        out = self.proc_result(client, timeout=15)
        finished = time.monotonic()
        self.assertTrue(out["end"], "the slow response must arrive in full: %s" % out)
        self.assertEqual(out["lines"], 13, out)
        self.assertEqual(out["error"], "", out)
        rc = pa.wait(timeout=10)
        self.assertEqual(rc, 0, "weft proxy must exit 0 after draining; log:\n%s" % pa.tail())
        self.assertLess(time.monotonic() - finished, 5.0, "the proxy should exit once its last connection ends")
        pa.wait_for_log(r"msg=exiting", timeout=1)
        # Two connections to 7100: the probe's (it hangs up after the first chunk) and the drip's.
        recs = pa.wait_records(to(b.ip4, 7100), dir="outbound", count=2, timeout=1)
        rec = max(recs, key=lambda r: int(r["received"]))
        self.assertEqual(rec["end"], "closed", rec)

    def test_idle_timeout_from_config(self):
        a, b = self.pod("a"), self.pod("b")
        pa = self.restart_proxy("a", config_yaml=(
            "apiVersion: weft.io/v1\n"
            "kind: Sidecar\n"
            "spec:\n"
            "  timeouts: {connect: 5s, idle: 1s, drain: 5s}\n"))
        srv = b.spawn_python(["echo-server", "--port", "7200"], "echo-server")
        b.wait_listen(7200, proc=srv)
        out = self.app(a, "idle-client", "--host", b.ip4, "--port", "7200", "--wait", "8")
        self.assertEqual(out["echoed"], "ping\n")
        self.assertIn(out["outcome"], ("eof", "reset"), "an idle connection must be closed: %s" % out)
        self.assertGreater(out["idle_s"], 0.7, out)
        self.assertLess(out["idle_s"], 4.0, out)
        rec = pa.wait_records(to(b.ip4, 7200), dir="outbound")[0]
        self.assertEqual(rec["end"], "idle-timeout", rec)
        self.assertEqual(int(rec["sent"]), 5, rec)
        self.assertEqual(int(rec["received"]), 5, rec)


if __name__ == "__main__":
    unittest.main()
