"""mTLS between sidecars: unmodified curl in pod a reaches http.server in pod b, and on the wire
(a capture on the node's bridge) there is only TLS 1.3 with ALPN weft/1.

Pods a and b ran `weft init` and run `weft proxy` with identities spiffe://cluster.local/ns/default/
sa/{a,b} issued by `weft ca`, and mesh CIDRs naming a and b only. Pod c has no sidecar: it is the
"destination outside the mesh" and the "client without a sidecar". No PeerAuthentication: every
port is PERMISSIVE.
"""

import calendar
import os
import secrets
import time
import unittest

import pki
from capture import Capture, TLSStream, flows_between
from mesh import same_endpoint, url_host
from mtlscase import MTLSTestCase

HTTP_PORT = 8080
KTLS = os.path.exists("/proc/net/tls_stat")


def to(host, port):
    return lambda r: same_endpoint(r.get("dst"), host, port)


class MutualTLSBetweenSidecars(MTLSTestCase):
    PODS = ("a", "b", "c")
    MESHED = ("a", "b")

    def _wire_is_tls_only(self, cap, client, server, port, secrets_):
        """Every connection client -> server:port in the capture is TLS 1.3 with ALPN weft/1 from
        its first byte to its last, in both directions, and no secret appears anywhere."""
        conns = flows_between(cap.flows(), client, server, port)
        self.assertGreaterEqual(len(conns), 1, "no connection %s -> %s:%d in the capture (%s)\n%s"
                                % (client, server, port, cap.stats(), cap.ascii(40)))
        seen = []
        for c2s, s2c, sport in conns:
            up, down = TLSStream(c2s), TLSStream(s2c)
            what = "connection from port %d" % sport
            self.assertTrue(up.complete, "%s, client side, is not all TLS records: %s\n%s" % (what, up.error, cap.ascii(60)))
            self.assertTrue(down.complete, "%s, server side, is not all TLS records: %s\n%s" % (what, down.error, cap.ascii(60)))
            self.assertEqual(up.hello and up.hello.get("type"), "client_hello", (what, up.hello))
            self.assertEqual(up.hello.get("alpn"), ["weft/1"], (what, up.hello))
            self.assertIn(0x0304, up.hello.get("versions", []), (what, up.hello))
            self.assertEqual(down.hello and down.hello.get("type"), "server_hello", (what, down.hello))
            self.assertEqual(down.hello.get("version"), 0x0304, "TLS 1.3 negotiated: %s" % down.hello)
            self.assertIn("application_data", up.types(), what)
            self.assertIn("application_data", down.types(), what)
            seen.append(down.hello)
        for secret in secrets_:
            self.assertFalse(cap.contains(secret), "%r is visible on the bridge:\n%s" % (secret, cap.ascii(80)))
        return seen

    def test_curl_over_mtls_shows_only_a_tls_handshake_on_the_bridge(self):
        a, b = self.pod("a"), self.pod("b")
        srv, token = self.http_server(b, HTTP_PORT)
        query = "q-" + secrets.token_hex(8)
        header = "header-" + secrets.token_hex(8)
        body = "request-body-" + secrets.token_hex(8)
        with Capture(self.mesh, "tcp and host %s and host %s" % (a.ip4, b.ip4)) as cap:
            self.addCleanup(cap.stop)
            res = self.curl(a, "http://%s:%d/hello.txt?%s" % (b.ip4, HTTP_PORT, query), extra=["-H", "X-Secret: " + header])
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertEqual(res.stdout.strip(), token)
            # http.server answers a POST with 501, but the request line and body still cross the wire.
            res = self.curl(a, "http://%s:%d/upload" % (b.ip4, HTTP_PORT), extra=["--data-binary", body])
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertIn("501", res.stdout)
        hellos = self._wire_is_tls_only(cap, a.ip4, b.ip4, HTTP_PORT,
                                        [b"GET /", b"POST /", b"HTTP/1.", token.encode(), query.encode(),
                                         header.encode(), body.encode()])
        srv.wait_for_log(r'"GET /hello.txt\?%s HTTP/1\.1" 200' % query)

        out = self.proxy("a").wait_records(to(b.ip4, HTTP_PORT), dir="outbound", count=2)
        inn = self.proxy("b").wait_records(to(b.ip4, HTTP_PORT), dir="inbound", count=2)
        for rec in out:
            self.assertEqual(rec["end"], "closed", rec)
            self.assertMTLSRecord(rec, pki.spiffe_id("b"))
        for rec in inn:
            self.assertEqual(rec["end"], "closed", rec)
            self.assertMTLSRecord(rec, pki.spiffe_id("a"))
            self.assertEqual(rec.get("detected"), "mtls", rec)
        print("\n    %d connections, all TLS 1.3 (%s, %s), ALPN weft/1; no plaintext on the bridge"
              % (len(hellos), hellos[0].get("cipher"), hellos[0].get("group")), end=" ")

    def test_server_sidecar_logs_and_counts_the_client_spiffe_id(self):
        a, b = self.pod("a"), self.pod("b")
        pa, pb = self.proxy("a"), self.proxy("b")
        self.assertEqual(self.health("a")[0], 200, self.health("a"))
        self.assertEqual(self.health("b")[0], 200, self.health("b"))
        before_b, before_a = self.metrics("b"), self.metrics("a")
        _, token = self.http_server(b, HTTP_PORT)
        for host in (b.ip4, b.ip6):
            res = self.curl(a, "http://%s:%d/hello.txt" % (url_host(host), HTTP_PORT))
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertEqual(res.stdout.strip(), token)
        a_serial, b_serial = self.creds["a"].serial(), self.creds["b"].serial()
        for host in (b.ip4, b.ip6):
            rin = pb.wait_records(to(host, HTTP_PORT), dir="inbound")[0]
            self.assertEqual(rin["end"], "closed", rin)
            self.assertMTLSRecord(rin, pki.spiffe_id("a"), serial=a_serial)
            self.assertEqual(rin.get("detected"), "mtls", rin)
            rout = pa.wait_records(to(host, HTTP_PORT), dir="outbound")[0]
            self.assertEqual(rout["end"], "closed", rout)
            self.assertMTLSRecord(rout, pki.spiffe_id("b"), serial=b_serial)
            if not KTLS:
                self.assertEqual(rin["tls_path"], "userspace", "this kernel has no kTLS: %s" % rin)
                self.assertEqual(rout["tls_path"], "userspace", rout)

        after_b, after_a = self.metrics("b"), self.metrics("a")
        delta = lambda after, before, m, **kw: self.metric("", m, samples=after, **kw) - self.metric("", m, samples=before, **kw)
        self.assertGreaterEqual(delta(after_b, before_b, "weft_tls_handshakes_total", direction="inbound", result="ok"), 2)
        self.assertGreaterEqual(delta(after_a, before_a, "weft_tls_handshakes_total", direction="outbound", result="ok"), 2)
        self.assertGreaterEqual(delta(after_b, before_b, "weft_inbound_detected_total", protocol="mtls"), 2)
        self.assertEqual(self.metric("", "weft_tls_handshakes_total", samples=after_b, result="failed"), 0)
        # The expiry the sidecar reports is the certificate's notAfter.
        not_after = calendar.timegm(time.strptime(self.creds["b"].dates()[1], "%b %d %H:%M:%S %Y GMT"))
        exp = self.metric("", "weft_certificate_expiration_timestamp_seconds", samples=after_b)
        self.assertAlmostEqual(exp, not_after, delta=2, msg="weft_certificate_expiration_timestamp_seconds %s vs notAfter %s" % (exp, not_after))

    def test_application_tls_passes_through_untouched_inside_mtls(self):
        a, b, c = self.pod("a"), self.pod("b"), self.pod("c")
        app_cert = self.ca.self_signed_server("b-8443", "b.app.example", ip_sans=[b.ip4, b.ip6])
        token = "app-tls-" + secrets.token_hex(8)
        srv = self.spawn_tls_app(b, "tls-server-8443", "tls-server", "--port", 8443, "--cert", app_cert.chain,
                                 "--key", app_cert.key, "--token", token)
        b.wait_listen(8443, proc=srv)
        with Capture(self.mesh, "tcp and host %s and host %s" % (a.ip4, b.ip4)) as cap:
            self.addCleanup(cap.stop)
            res = self.curl(a, "https://%s:8443/through-mesh" % b.ip4, extra=["--cacert", app_cert.chain])
        self.assertEqual(res.returncode, 0, "curl's own TLS to the application must work through both sidecars: %s" % res.stderr)
        self.assertEqual(res.stdout.strip(), "%s /through-mesh" % token)
        # On the wire: one layer of TLS, the mesh's (weft/1); curl's own ClientHello (ALPN h2,
        # http/1.1) travels inside it, so it never shows.
        self._wire_is_tls_only(cap, a.ip4, b.ip4, 8443, [b"b.app.example", b"http/1.1", token.encode()])
        rout = self.proxy("a").wait_records(to(b.ip4, 8443), dir="outbound")[0]
        self.assertMTLSRecord(rout, pki.spiffe_id("b"))
        rin = self.proxy("b").wait_records(to(b.ip4, 8443), dir="inbound")[0]
        self.assertMTLSRecord(rin, pki.spiffe_id("a"))
        self.assertEqual(rin.get("detected"), "mtls", rin)
        self.assertEqual(rin["end"], "closed", rin)

        # From pod c, which has no sidecar, the application's TLS arrives as it is (PERMISSIVE).
        res = self.curl(c, "https://%s:8443/from-c" % b.ip4, extra=["--cacert", app_cert.chain])
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout.strip(), "%s /from-c" % token)
        rin = self.proxy("b").wait_records(lambda r: to(b.ip4, 8443)(r) and same_endpoint(r.get("client"), c.ip4),
                                           dir="inbound")[0]
        self.assertEqual(rin.get("detected"), "app-tls", rin)
        self.assertNotEqual(rin.get("tls"), "mtls", rin)
        self.assertEqual(rin["end"], "closed", rin)

    def test_outbound_to_a_destination_outside_the_mesh_stays_plaintext(self):
        a, c = self.pod("a"), self.pod("c")
        srv, token = self.http_server(c, HTTP_PORT)
        with Capture(self.mesh, "tcp and host %s and host %s" % (a.ip4, c.ip4)) as cap:
            self.addCleanup(cap.stop)
            res = self.curl(a, "http://%s:%d/hello.txt" % (c.ip4, HTTP_PORT))
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout.strip(), token)
        # The same capture that never shows plaintext between a and b shows it here.
        self.assertTrue(cap.contains(b"GET /hello.txt HTTP/1.1"), cap.ascii(40))
        self.assertTrue(cap.contains(token.encode()), cap.ascii(40))
        rec = self.proxy("a").wait_records(to(c.ip4, HTTP_PORT), dir="outbound")[0]
        self.assertEqual(rec["end"], "closed", rec)
        self.assertNotEqual(rec.get("tls"), "mtls", rec)
        self.assertNotIn("peer", rec)
        line = srv.wait_for_log(r'"GET /hello.txt HTTP/1\.1" 200')
        self.assertTrue(line.startswith(a.ip4 + " ") or line.startswith("::ffff:%s " % a.ip4), line)

    def test_unexpected_destination_identity_fails_the_connection(self):
        a, b = self.pod("a"), self.pod("b")
        pa = self.restart_proxy("a", self.sidecar_yaml("a", destinations=[
            ("%s/32" % b.ip4, HTTP_PORT, pki.spiffe_id("not-b")),
            ("%s/32" % b.ip4, 8081, pki.spiffe_id("b")),
        ]))
        srv, token = self.http_server(b, HTTP_PORT)
        srv2, token2 = self.http_server(b, 8081)
        res = self.curl(a, "http://%s:%d/hello.txt" % (b.ip4, HTTP_PORT))
        self.assertNotEqual(res.returncode, 0, "the connection must fail: %s" % res.stdout)
        self.assertNotIn(token, res.stdout)
        rec = pa.wait_records(to(b.ip4, HTTP_PORT), dir="outbound")[0]
        self.assertEqual(rec["end"], "tls-handshake-failed", rec)
        self.assertEqual(self.reason_token(rec), "unexpected-identity", rec)
        self.assertIn(pki.spiffe_id("b"), rec.get("reason", ""), "the reason names the identity presented: %s" % rec)
        # The expected identity, where it is right, is accepted.
        res = self.curl(a, "http://%s:8081/hello.txt" % b.ip4)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout.strip(), token2)
        self.assertMTLSRecord(pa.wait_records(to(b.ip4, 8081), dir="outbound")[0], pki.spiffe_id("b"))
        time.sleep(0.3)
        self.assertFalse([l for l in srv.log_lines() if "GET /hello.txt" in l], "b's application must see nothing")
        self.assertGreaterEqual(self.metric("a", "weft_tls_handshakes_total", direction="outbound", result="failed",
                                            reason="unexpected-identity"), 1)

    def test_a_server_sidecar_with_a_certificate_from_another_ca_is_refused(self):
        a, b = self.pod("a"), self.pod("b")
        other = pki.MeshCA(self.mesh, name="other-ca").issue("b")
        self.restart_proxy("b", self.sidecar_yaml("b", creds=other))
        srv, token = self.http_server(b, HTTP_PORT)
        res = self.curl(a, "http://%s:%d/hello.txt" % (b.ip4, HTTP_PORT))
        self.assertNotEqual(res.returncode, 0, res.stdout)
        rec = self.proxy("a").wait_records(to(b.ip4, HTTP_PORT), dir="outbound")[0]
        self.assertEqual(rec["end"], "tls-handshake-failed", rec)
        self.assertEqual(self.reason_token(rec), "untrusted-ca", rec)
        time.sleep(0.3)
        self.assertFalse([l for l in srv.log_lines() if "GET /" in l], "b's application must see nothing")
        self.assertGreaterEqual(self.metric("a", "weft_tls_handshakes_total", direction="outbound", result="failed",
                                            reason="untrusted-ca"), 1)

    def test_a_mesh_destination_without_a_sidecar_fails_closed(self):
        # a's mesh CIDRs claim that c has a sidecar; it has none. a's sidecar must not fall back
        # to plaintext: the request never crosses the bridge, only a ClientHello does.
        a, c = self.pod("a"), self.pod("c")
        pa = self.restart_proxy("a", self.sidecar_yaml("a", cidrs=self.mesh_cidrs(("a", "b", "c"))))
        srv, token = self.http_server(c, HTTP_PORT)
        secret = "q-" + secrets.token_hex(8)
        with Capture(self.mesh, "tcp and host %s and host %s" % (a.ip4, c.ip4)) as cap:
            self.addCleanup(cap.stop)
            res = self.curl(a, "http://%s:%d/hello.txt?%s" % (c.ip4, HTTP_PORT, secret))
        self.assertNotEqual(res.returncode, 0, res.stdout)
        self.assertNotIn(token, res.stdout)
        self.assertFalse(cap.contains(secret.encode()), cap.ascii(40))
        self.assertFalse(cap.contains(b"GET /hello.txt"), cap.ascii(40))
        rec = pa.wait_records(to(c.ip4, HTTP_PORT), dir="outbound")[0]
        self.assertEqual(rec["end"], "tls-handshake-failed", rec)
        self.assertIn(self.reason_token(rec), ("not-tls", "protocol", "handshake-eof"), rec)
        time.sleep(0.3)
        self.assertFalse([l for l in srv.log_lines() if secret in l], "c's application must not get the request")

    def test_a_peer_certificate_from_an_intermediate_ca_is_accepted(self):
        # b's certificate comes from an intermediate CA: b sends leaf + intermediate, a's trust
        # bundle holds only the root.
        a, b = self.pod("a"), self.pod("b")
        inter = self.ca.intermediate()
        creds = inter.issue("b", out=self.ca.workload_dir("b-via-intermediate"))
        with open(creds.chain) as f:
            self.assertEqual(f.read().count("BEGIN CERTIFICATE"), 2, "cert-chain.pem holds leaf + intermediate")
        self.restart_proxy("b", self.sidecar_yaml("b", creds=creds))
        _, token = self.http_server(b, HTTP_PORT)
        res = self.curl(a, "http://%s:%d/hello.txt" % (b.ip4, HTTP_PORT))
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout.strip(), token)
        self.assertMTLSRecord(self.proxy("a").wait_records(to(b.ip4, HTTP_PORT), dir="outbound")[0],
                              pki.spiffe_id("b"), serial=creds.serial())


if __name__ == "__main__":
    unittest.main()
