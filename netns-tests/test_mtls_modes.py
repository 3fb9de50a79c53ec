"""PeerAuthentication modes on pod b's inbound side: STRICT refuses a pod without a sidecar,
PERMISSIVE serves it in plaintext, a port-level PERMISSIVE opens one port of a STRICT workload, and
the mesh (a -> b over mTLS) works in every mode that terminates mTLS.

Pods a and b are meshed (identities from `weft ca`, `weft init`, `weft proxy`); pod c has no sidecar.
"""

import unittest

import pki
from mesh import same_endpoint
from mtlscase import MTLSTestCase

HTTP_PORT = 8080


def conn(host, port, client=None):
    return lambda r: same_endpoint(r.get("dst"), host, port) and (client is None or same_endpoint(r.get("client"), client))


class PeerAuthenticationModes(MTLSTestCase):
    PODS = ("a", "b", "c")
    MESHED = ("a", "b")

    def _mesh_request_works(self, port=HTTP_PORT, token=None):
        a, b = self.pod("a"), self.pod("b")
        res = self.curl(a, "http://%s:%d/hello.txt" % (b.ip4, port))
        self.assertEqual(res.returncode, 0, "a -> b over mTLS must work: %s" % res.stderr)
        if token:
            self.assertEqual(res.stdout.strip(), token)
        rec = self.proxy("b").wait_records(conn(b.ip4, port, a.ip4), dir="inbound")[-1]
        self.assertMTLSRecord(rec, pki.spiffe_id("a"))
        self.assertEqual(rec.get("detected"), "mtls", rec)

    def _served(self, srv):
        return [l for l in srv.log_lines() if '"GET /' in l]

    def test_permissive_serves_a_pod_without_a_sidecar_in_plaintext(self):
        b, c = self.pod("b"), self.pod("c")
        srv, token = self.http_server(b, HTTP_PORT)
        res = self.curl(c, "http://%s:%d/hello.txt" % (b.ip4, HTTP_PORT))
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout.strip(), token)
        rec = self.proxy("b").wait_records(conn(b.ip4, HTTP_PORT, c.ip4), dir="inbound")[0]
        self.assertEqual(rec["end"], "closed", rec)
        self.assertEqual(rec.get("detected"), "plaintext", rec)
        self.assertNotEqual(rec.get("tls"), "mtls", rec)
        self.assertNotIn("peer", rec)
        self._mesh_request_works(token=token)
        self.assertGreaterEqual(self.metric("b", "weft_inbound_detected_total", protocol="plaintext"), 1)
        self.assertGreaterEqual(self.metric("b", "weft_inbound_detected_total", protocol="mtls"), 1)

    def test_strict_refuses_a_pod_without_a_sidecar_and_serves_the_mesh(self):
        b, c = self.pod("b"), self.pod("c")
        self.restart_proxy("b", self.sidecar_yaml("b", mode="STRICT"))
        srv, token = self.http_server(b, HTTP_PORT)
        res = self.curl(c, "http://%s:%d/hello.txt" % (b.ip4, HTTP_PORT))
        self.assertNotEqual(res.returncode, 0, "STRICT must refuse plaintext: %s" % res.stdout)
        self.assertNotIn(token, res.stdout)
        rec = self.proxy("b").wait_records(conn(b.ip4, HTTP_PORT, c.ip4), dir="inbound")[0]
        self.assertEqual(rec["end"], "plaintext-refused", rec)
        self.assertEqual(rec.get("detected"), "plaintext", rec)
        self.assertEqual(self._served(srv), [], "the application must never see the refused request")
        self.assertGreaterEqual(self.metric("b", "weft_connections_closed_total", direction="inbound",
                                            end="plaintext-refused"), 1)
        self._mesh_request_works(token=token)

    def test_strict_refuses_application_tls_from_a_pod_without_a_sidecar(self):
        # A ClientHello without ALPN weft/1 is the application's own TLS, not a sidecar's mTLS.
        b, c = self.pod("b"), self.pod("c")
        self.restart_proxy("b", self.sidecar_yaml("b", mode="STRICT"))
        app_cert = self.ca.self_signed_server("b-strict", "b.strict.example", ip_sans=[b.ip4])
        srv = self.spawn_tls_app(b, "tls-server-8443", "tls-server", "--port", 8443, "--cert", app_cert.chain,
                                 "--key", app_cert.key)
        b.wait_listen(8443, proc=srv)
        res = self.curl(c, "https://%s:8443/x" % b.ip4, extra=["--cacert", app_cert.chain])
        self.assertNotEqual(res.returncode, 0, "STRICT must refuse a client without a sidecar: %s" % res.stdout)
        rec = self.proxy("b").wait_records(conn(b.ip4, 8443, c.ip4), dir="inbound")[0]
        self.assertEqual(rec.get("detected"), "app-tls", rec)
        self.assertIn(rec["end"], ("plaintext-refused", "tls-handshake-failed"), rec)
        if rec["end"] == "tls-handshake-failed":
            self.assertEqual(self.reason_token(rec), "no-alpn", rec)
        self.assertEqual([l for l in srv.log_lines() if "GET /x" in l], [])

    def test_port_level_permissive_opens_one_port_of_a_strict_workload(self):
        b, c = self.pod("b"), self.pod("c")
        self.restart_proxy("b", self.sidecar_yaml("b", mode="STRICT", port_modes={8081: "PERMISSIVE"}))
        srv, token = self.http_server(b, HTTP_PORT)
        srv2, token2 = self.http_server(b, 8081)
        res = self.curl(c, "http://%s:8081/hello.txt" % b.ip4)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout.strip(), token2)
        rec = self.proxy("b").wait_records(conn(b.ip4, 8081, c.ip4), dir="inbound")[0]
        self.assertEqual((rec["end"], rec.get("detected")), ("closed", "plaintext"), rec)
        res = self.curl(c, "http://%s:%d/hello.txt" % (b.ip4, HTTP_PORT))
        self.assertNotEqual(res.returncode, 0, res.stdout)
        rec = self.proxy("b").wait_records(conn(b.ip4, HTTP_PORT, c.ip4), dir="inbound")[0]
        self.assertEqual(rec["end"], "plaintext-refused", rec)
        self.assertEqual(self._served(srv), [])
        self._mesh_request_works(HTTP_PORT, token)
        self._mesh_request_works(8081, token2)

    def test_disable_serves_plaintext_without_detection(self):
        b, c = self.pod("b"), self.pod("c")
        self.restart_proxy("b", self.sidecar_yaml("b", mode="DISABLE"))
        _, token = self.http_server(b, HTTP_PORT)
        res = self.curl(c, "http://%s:%d/hello.txt" % (b.ip4, HTTP_PORT))
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout.strip(), token)
        rec = self.proxy("b").wait_records(conn(b.ip4, HTTP_PORT, c.ip4), dir="inbound")[0]
        self.assertEqual(rec["end"], "closed", rec)
        self.assertNotEqual(rec.get("tls"), "mtls", rec)

    def test_server_speaks_first_through_permissive_detection(self):
        # Nothing arrives from the client: after the detection timeout the connection is taken
        # for plaintext (`detected=silent`), so the banner still reaches a client without a sidecar.
        a, b, c = self.pod("a"), self.pod("b"), self.pod("c")
        srv = b.spawn_python(["banner-server", "--port", "2525", "--banner", "smtp.b.example ESMTP"], "banner-server")
        b.wait_listen(2525, proc=srv)
        out = self.app(c, "banner-client", "--host", b.ip4, "--port", "2525")
        self.assertEqual(out["banner"], "220 smtp.b.example ESMTP\r\n")
        self.assertLess(out["banner_s"], 2.0, out)
        self.assertEqual(out["reply"], "ECHO hello from the client\n")
        rec = self.proxy("b").wait_records(conn(b.ip4, 2525, c.ip4), dir="inbound")[0]
        self.assertEqual(rec.get("detected"), "silent", rec)
        # From the mesh the client sidecar speaks first (its ClientHello), so it is mTLS.
        out = self.app(a, "banner-client", "--host", b.ip4, "--port", "2525")
        self.assertEqual(out["banner"], "220 smtp.b.example ESMTP\r\n")
        self.assertEqual(out["reply"], "ECHO hello from the client\n")
        rec = self.proxy("b").wait_records(conn(b.ip4, 2525, a.ip4), dir="inbound")[0]
        self.assertMTLSRecord(rec, pki.spiffe_id("a"))


if __name__ == "__main__":
    unittest.main()
