"""Protocol detection on real connections: a client that stays silent longer than
`spec.detection.timeout` (300 ms by default) on a port not declared opaque is relayed as opaque TCP
and still works; an HTTP request on a declared-opaque port is relayed as bytes (no L7); declaring a
server-speaks-first port opaque removes the detection delay; and after inbound mTLS termination the
decrypted bytes are sniffed the same way.

Pods a and b ran `weft init` and run `weft proxy`; pod c has no sidecar.
"""

import unittest

import pki
from httpcase import HTTPHelpers
from mesh import same_endpoint
from mtlscase import MTLSTestCase
from weftcase import MeshTestCase


def conn(host, port, client=None):
    return lambda r: same_endpoint(r.get("dst"), host, port) and (client is None or same_endpoint(r.get("client"), client))


class SilentClients(HTTPHelpers):
    """Scenarios shared by the plaintext and the mTLS mesh."""

    def _client_speaks_after_the_detection_timeout(self):
        # The server sends nothing until the client speaks; the client waits a second first.
        a, b = self.pod("a"), self.pod("b")
        srv = b.spawn_python(["echo-server", "--port", "7300"], "echo-server")
        b.wait_listen(7300, proc=srv)
        out = self.http_app(a, "late-client", "--host", b.ip4, "--port", 7300, "--delay", 1.0,
                            "--send", "hello after a second\\n", "--expect", "second\\n")
        self.assertEqual(out["reply"], "hello after a second\n", out)
        self.assertLess(out["elapsed"], 3.0, out)
        recs = []
        for proxy, direction in ((self.proxy("a"), "outbound"), (self.proxy("b"), "inbound")):
            rec = proxy.wait_records(conn(b.ip4, 7300), dir=direction)[0]
            self.assertEqual((rec["end"], rec.get("protocol")), ("closed", "opaque"), rec)
            self.assertEqual((rec["sent"], rec["received"]), ("21", "21"), rec)
            self.assertEqual(rec.get("detection"), "timeout", "the detection outcome is logged: %s" % rec)
            recs.append(rec)
        return recs

    def _late_http_request_is_relayed_as_bytes(self):
        # An HTTP request that comes after the detection timeout: the connection is opaque by
        # then, so the request passes as bytes (no request record) and still gets its answer.
        a, b = self.pod("a"), self.pod("b")
        backend = self.record_server(b, 8080)
        out = self.http_app(a, "late-client", "--host", b.ip4, "--port", 8080, "--delay", 1.0,
                            "--send", "GET /late HTTP/1.1\\r\\nHost: b\\r\\nConnection: close\\r\\n\\r\\n")
        self.assertTrue(out["reply"].startswith("HTTP/1.1 200 OK\r\n"), out)
        self.assertIn("GET /late", out["reply"])
        self.assertEqual([r["target"] for r in backend.requests()], ["/late"])
        for proxy, direction in ((self.proxy("a"), "outbound"), (self.proxy("b"), "inbound")):
            rec = proxy.wait_records(conn(b.ip4, 8080), dir=direction)[0]
            self.assertEqual(rec.get("protocol"), "opaque", rec)
            self.assertEqual(proxy.request_records(), [], "no L7 on an opaque connection")


class DetectionPlaintext(SilentClients, MeshTestCase):
    PODS = ("a", "b", "c")
    INIT_PODS = ("a", "b")
    PROXY_PODS = ("a", "b")

    def test_client_silent_past_the_detection_timeout_still_works(self):
        self._client_speaks_after_the_detection_timeout()

    def test_http_after_the_detection_timeout_is_relayed_as_bytes(self):
        self._late_http_request_is_relayed_as_bytes()

    def test_http_on_a_default_opaque_port_is_not_parsed(self):
        # 6379 is among the default opaque ports: no detection, no L7, even for HTTP.
        a, b = self.pod("a"), self.pod("b")
        backend = self.record_server(b, 6379)
        out = self.http(a, b.ip4, 6379, [{"path": "/on-6379"}])
        self.assertEqual(out["responses"][0]["status"], 200, out)
        self.assertEqual([r["target"] for r in backend.requests()], ["/on-6379"])
        for proxy, direction in ((self.proxy("a"), "outbound"), (self.proxy("b"), "inbound")):
            rec = proxy.wait_records(conn(b.ip4, 6379), dir=direction)[0]
            self.assertEqual((rec.get("protocol"), rec.get("detection")), ("opaque", "declared-opaque"), rec)
            self.assertEqual(proxy.request_records(), [])

    def test_declaring_a_server_first_port_opaque_removes_the_detection_delay(self):
        a, b = self.pod("a"), self.pod("b")
        srv = b.spawn_python(["banner-server", "--port", "2626", "--banner", "b ready"], "banner-server")
        b.wait_listen(2626, proc=srv)
        sidecar = "apiVersion: weft.io/v1\nkind: Sidecar\nspec:\n  detection: {timeout: 1500ms%s}\n"
        self.restart_proxy("a", sidecar % "")
        self.restart_proxy("b", sidecar % "")
        slow = self.app(a, "banner-client", "--host", b.ip4, "--port", "2626")
        self.assertEqual(slow["banner"], "220 b ready\r\n", slow)
        self.assertGreater(slow["banner_s"], 1.2, "the banner waits for the 1.5 s detection timeout: %s" % slow)
        self.restart_proxy("a", sidecar % ", opaquePorts: [2626]")
        self.restart_proxy("b", sidecar % ", opaquePorts: [2626]")
        fast = self.app(a, "banner-client", "--host", b.ip4, "--port", "2626")
        self.assertEqual(fast["banner"], "220 b ready\r\n", fast)
        self.assertLess(fast["banner_s"], 0.5, "a declared opaque port is relayed at once: %s" % fast)
        self.assertEqual(fast["reply"], "ECHO hello from the client\n")
        print("\n    banner after %.2f s with detection, %.3f s on a declared opaque port"
              % (slow["banner_s"], fast["banner_s"]), end=" ")


class DetectionOverMutualTLS(SilentClients, MTLSTestCase):
    PODS = ("a", "b")
    MESHED = ("a", "b")

    def test_client_silent_past_the_detection_timeout_over_mtls(self):
        out, inn = self._client_speaks_after_the_detection_timeout()
        self.assertMTLSRecord(inn, pki.spiffe_id("a"))
        self.assertEqual(inn.get("detected"), "mtls", inn)
        # Counted in metrics too: after the mTLS handshake, b's sniffing of the decrypted bytes
        # timed out; a's outbound peek did.
        for pod, direction in (("a", "outbound"), ("b", "inbound")):
            self.assertEqual(self.metric(pod, "weft_protocol_detections_total", direction=direction, protocol="timeout"), 1)
        self.assertEqual(self.metric("b", "weft_protocol_detections_total", direction="inbound", protocol="http/1.1"), 0)

    def test_http_after_the_detection_timeout_over_mtls_is_relayed_as_bytes(self):
        self._late_http_request_is_relayed_as_bytes()


if __name__ == "__main__":
    unittest.main()
