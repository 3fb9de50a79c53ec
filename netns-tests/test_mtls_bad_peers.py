"""Bad peers at pod b's STRICT inbound side: each is refused with its reason, the application never
sees a byte, no worker blocks, and b's proxy returns to its baseline of descriptors.

The peers run in pod c, which has no sidecar, so they reach b's inbound listener directly: python's
ssl module (and once openssl s_client) with certificates made by another `weft ca`, or by the
openssl CLI with this mesh's CA key (expired, not yet valid, no SPIFFE id, another trust domain,
the root itself as a leaf), or raw bytes (garbage, half a ClientHello, a stalled handshake).
spec.tls.handshakeTimeout is 2 s here so stalls end quickly.
"""

import unittest

import pki
from mesh import same_endpoint
from mtlscase import MTLSTestCase
from weftcase import wait_until

HTTP_PORT = 8080
HANDSHAKE_TIMEOUT = 2.0


class BadPeers(MTLSTestCase):
    PODS = ("a", "b", "c")
    MESHED = ("a", "b")
    MTLS_MODE = "STRICT"
    TLS_SETTINGS = {"handshakeTimeout": "2s"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ca, c_id = cls.ca, pki.spiffe_id("c")
        other_ca = pki.MeshCA(cls.mesh, name="other-ca")   # same trust domain name, another key
        cls.peers = {
            "good": ca.issue("c"),
            "intermediate": ca.intermediate().issue("c", out=ca.workload_dir("c-via-intermediate")),
            "other-ca": other_ca.issue("c"),
            "expired": ca.openssl_leaf("expired", uris=[c_id], start="20200101000000Z", end="20200102000000Z"),
            "not-yet-valid": ca.openssl_leaf("not-yet-valid", uris=[c_id], start="20990101000000Z", end="20991231000000Z"),
            "dns-san-only": ca.openssl_leaf("dns-only", dns=["c.default.svc.cluster.local"]),
            "no-san": ca.openssl_leaf("no-san"),
            "trust-domain-only-uri": ca.openssl_leaf("td-only", uris=["spiffe://cluster.local"]),
            "two-spiffe-ids": ca.openssl_leaf("two-ids", uris=[c_id, pki.spiffe_id("a")]),
            "other-trust-domain": ca.openssl_leaf("other-td", uris=["spiffe://evil.example/ns/default/sa/c"]),
            "root-as-leaf": pki.Credentials(ca.dir, chain="ca-cert.pem", key="ca-key.pem"),
        }

    def setUp(self):
        super().setUp()
        self.srv, self.token = self.http_server(self.pod("b"), HTTP_PORT)
        # One mTLS request first, so that whatever a first handshake sets up for good (OpenSSL's
        # lazily loaded state) is in the baseline; then b's proxy is at rest.
        self._mesh_still_works("warm-up")
        # curl has its answer before b's proxy has closed the two sockets of that connection: the
        # baseline is taken once the connection's record (written when it closes) is there.
        a, b = self.pod("a"), self.pod("b")
        if not wait_until(lambda: [r for r in self.proxy("b").connection_records(dir="inbound")
                                   if same_endpoint(r.get("client"), a.ip4) and same_endpoint(r.get("dst"), b.ip4, HTTP_PORT)],
                          timeout=10.0):
            self.fail("the warm-up connection from a did not end within 10 s; b's log:\n%s" % self.proxy("b").tail(20))
        self.baseline = self.proxy("b").fd_kinds()

    # -- helpers -----------------------------------------------------------------------------------

    def _inbound_from_c(self):
        b, c = self.pod("b"), self.pod("c")
        return [r for r in self.proxy("b").connection_records(dir="inbound")
                if same_endpoint(r.get("client"), c.ip4) and same_endpoint(r.get("dst"), b.ip4, HTTP_PORT)]

    def _next_record(self, before, timeout=10.0):
        recs = wait_until(lambda: self._inbound_from_c()[before:], timeout=timeout)
        if not recs:
            self.fail("no inbound record for the peer's connection within %ss; b's log:\n%s"
                      % (timeout, self.proxy("b").tail(20)))
        return recs[0]

    def _reached_app(self, label=None):
        """Lines of b's http.server log that a bad peer caused: its request path (from-<label>),
        or any request the server could not parse (bytes that were not for it)."""
        return [l for l in self.srv.log_lines()
                if (label and "/from-%s " % label in l) or "code 400" in l or "Bad request" in l]

    def _back_to_baseline(self, what):
        pb = self.proxy("b")
        if not wait_until(lambda: pb.fd_kinds() == self.baseline, timeout=5.0):
            self.fail("%s: b's proxy holds %s descriptors, baseline %s" % (what, pb.fd_kinds(), self.baseline))

    def _mesh_still_works(self, what):
        a, b = self.pod("a"), self.pod("b")
        res = self.curl(a, "http://%s:%d/hello.txt" % (b.ip4, HTTP_PORT), timeout=5)
        self.assertEqual(res.returncode, 0, "%s: a normal mTLS request afterwards failed: %s" % (what, res.stderr))
        self.assertEqual(res.stdout.strip(), self.token)
        self.assertLess(res.elapsed, 2.0, what)

    def _check_refused(self, label, rec, ends, reasons):
        self.assertIn(rec["end"], ends, "%s: %s" % (label, rec))
        if rec["end"] == "tls-handshake-failed":
            self.assertIn(self.reason_token(rec), reasons, "%s: %s" % (label, rec))
            self.assertIn(":", rec.get("reason", ""), "reason=\"<token>: <detail>\": %s" % rec)
        self.assertNotEqual(rec.get("tls"), "mtls", rec)

    # -- scenarios -----------------------------------------------------------------------------------

    def test_certificates_are_checked_and_each_bad_one_refused_with_its_reason(self):
        b, c = self.pod("b"), self.pod("c")
        failed = ("tls-handshake-failed",)
        cases = [
            # label, credentials (None: no client certificate), accepted?, expected reason tokens
            ("good", "good", True, ()),
            ("intermediate", "intermediate", True, ()),
            ("other-ca", "other-ca", False, ("untrusted-ca",)),
            ("expired", "expired", False, ("expired",)),
            ("not-yet-valid", "not-yet-valid", False, ("not-yet-valid",)),
            ("dns-san-only", "dns-san-only", False, ("no-spiffe-id",)),
            ("no-san", "no-san", False, ("no-spiffe-id",)),
            ("trust-domain-only-uri", "trust-domain-only-uri", False, ("no-spiffe-id",)),
            ("two-spiffe-ids", "two-spiffe-ids", False, ("no-spiffe-id",)),
            ("other-trust-domain", "other-trust-domain", False, ("wrong-trust-domain",)),
            ("root-as-leaf", "root-as-leaf", False, ("not-workload-certificate", "no-spiffe-id")),
            ("no-client-certificate", None, False, ("no-peer-certificate",)),
        ]
        seen = {}
        for label, creds_name, accepted, reasons in cases:
            with self.subTest(peer=label):
                before = len(self._inbound_from_c())
                path = "/hello.txt" if accepted else "/from-%s" % label
                args = ["tls-client", "--host", b.ip4, "--port", HTTP_PORT,
                        "--send", "GET %s HTTP/1.0\\r\\n\\r\\n" % path]
                creds = self.peers.get(creds_name) if creds_name else None
                if creds:
                    args += ["--cert", creds.chain, "--key", creds.key]
                out = self.tls_app(c, *args, timeout=30)
                rec = self._next_record(before)
                seen[label] = (rec["end"], rec.get("reason", ""), out.get("outcome"), out.get("detail"))
                if accepted:
                    self.assertEqual(out["handshake"], "ok", out)
                    self.assertIn(self.token, out["data"], out)
                    self.assertEqual(rec["end"], "closed", rec)
                    self.assertMTLSRecord(rec, pki.spiffe_id("c"), serial=creds.serial())
                else:
                    self.assertNotIn(self.token, out.get("data", ""), out)
                    self.assertNotEqual(out.get("outcome"), "data", out)
                    self._check_refused(label, rec, failed, reasons)
                    self.assertEqual(self._reached_app(label), [], "%s reached the application" % label)
                self._back_to_baseline(label)
                self._mesh_still_works(label)
        # openssl s_client, with the other CA's certificate.
        with self.subTest(peer="s_client other-ca"):
            creds = self.peers["other-ca"]
            before = len(self._inbound_from_c())
            c.run(["openssl", "s_client", "-connect", "%s:%d" % (b.ip4, HTTP_PORT), "-tls1_3", "-alpn", "weft/1",
                   "-cert", creds.chain, "-key", creds.key, "-quiet"], input="GET /from-s_client HTTP/1.0\r\n\r\n", timeout=15)
            rec = self._next_record(before)
            self._check_refused("s_client", rec, failed, ("untrusted-ca",))
            self.assertEqual(self._reached_app("s_client"), [])
            self._back_to_baseline("s_client")
        # Failures are counted by reason.
        for reason in ("untrusted-ca", "expired", "not-yet-valid", "no-spiffe-id", "wrong-trust-domain"):
            self.assertGreaterEqual(self.metric("b", "weft_tls_handshakes_total", direction="inbound",
                                                result="failed", reason=reason), 1, reason)
        print("\n    " + "\n    ".join("%-22s end=%s reason=%r (client: %s %s)" % ((k,) + v) for k, v in seen.items()), end=" ")

    def test_garbage_truncated_and_stalled_handshakes_are_refused(self):
        b, c = self.pod("b"), self.pod("c")
        failed = ("tls-handshake-failed",)
        cases = [
            # mode, expected ends, expected reason tokens (for tls-handshake-failed), closes after
            # Bytes that are no ClientHello are plaintext to the detector, and STRICT refuses
            # plaintext; a TLS handshake that then fails would be as good.
            ("garbage", ("plaintext-refused", "tls-handshake-failed"), ("not-tls",), None),
            ("tls-garbage", ("plaintext-refused", "tls-handshake-failed"), ("not-tls", "protocol"), None),
            ("half-eof", ("plaintext-refused", "tls-handshake-failed"), ("handshake-eof", "not-tls"), None),
            ("half-stall", ("handshake-timeout",), (), HANDSHAKE_TIMEOUT),
            ("full-stall", ("handshake-timeout",), (), HANDSHAKE_TIMEOUT),
            ("silent", ("plaintext-refused", "handshake-timeout"), (), None),
        ]
        seen = {}
        for mode, ends, reasons, closes_after in cases:
            with self.subTest(mode=mode):
                before = len(self._inbound_from_c())
                out = self.tls_app(c, "hello-client", "--host", b.ip4, "--port", HTTP_PORT, "--mode", mode,
                                   "--wait", 8, timeout=30)
                rec = self._next_record(before)
                seen[mode] = (rec["end"], rec.get("reason", ""), out["outcome"], out.get("closed_after"))
                self.assertIn(out["outcome"], ("eof", "reset", "data"), "b must close the connection: %s" % out)
                self._check_refused(mode, rec, ends, reasons)
                if closes_after is not None:
                    self.assertGreater(out["closed_after"], closes_after * 0.7, out)
                    self.assertLess(out["closed_after"], closes_after + 3, out)
                self._back_to_baseline(mode)
                self._mesh_still_works(mode)
        self.assertEqual(self._reached_app(), [], "no bad peer may reach the application")
        self.assertGreaterEqual(self.metric("b", "weft_connections_closed_total", direction="inbound",
                                            end="handshake-timeout"), 2)
        print("\n    " + "\n    ".join("%-12s end=%s reason=%r (client: %s after %s s)" % ((k,) + v) for k, v in seen.items()), end=" ")

    def test_stalled_handshakes_block_no_worker(self):
        # Several peers stall mid-handshake at once (more than there are workers); meanwhile the
        # mesh and a well-behaved peer without a sidecar are served at once.
        a, b, c = self.pod("a"), self.pod("b"), self.pod("c")
        stalls = []
        for i in range(6):
            mode = "half-stall" if i % 2 else "full-stall"
            stalls.append(self.spawn_tls_app(c, "stall-%d" % i, "hello-client", "--host", b.ip4, "--port", HTTP_PORT,
                                             "--mode", mode, "--wait", 15))
        for proc in stalls:
            self.wait_line(proc, "SENT", timeout=10)
        held = self.proxy("b").fd_kinds()
        self.assertGreaterEqual(held.get("socket", 0), self.baseline.get("socket", 0) + 6, held)
        for i in range(5):
            self._mesh_still_works("request %d during the stalls" % i)
        good = self.peers["good"]
        out = self.tls_app(c, "tls-client", "--host", b.ip4, "--port", HTTP_PORT, "--cert", good.chain, "--key", good.key)
        self.assertIn(self.token, out["data"], out)
        self.assertLess(out["elapsed"], 2.0, out)
        self.assertTrue(all(p.alive() for p in stalls), "the stalls must still be pending while the others are served")
        for proc in stalls:
            res = self.proc_result(proc, timeout=HANDSHAKE_TIMEOUT + 10)
            self.assertIn(res["outcome"], ("eof", "reset"), res)
        # How each stall is labelled is the business of the test above; here: all six ended.
        recs = self.proxy("b").wait_records(lambda r: same_endpoint(r.get("client"), c.ip4) and r["end"] != "closed",
                                            dir="inbound", count=6)
        self.assertEqual(len(recs), 6, recs)
        self._back_to_baseline("after the stalls")


if __name__ == "__main__":
    unittest.main()
