"""Certificates change under a running mesh: rotation during load fails no request and peers see
the new serial; readiness is 503 while a certificate is expired or unreadable and 200 again once a
good one is in place.

Rotation is what an operator (or an agent) does: `weft ca issue` into the workload's directory
again, which renames new files over the old ones. The sidecar notices and reloads.
"""

import calendar
import datetime
import os
import re
import tempfile
import time
import unittest

import pki
from mesh import parse_logfmt, same_endpoint
from mtlscase import MTLSTestCase

HTTP_PORT = 8080
LOAD_SECONDS = 10


def ts(rec):
    """A record's `ts` as seconds since the epoch."""
    return datetime.datetime.strptime(rec["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def started(rec):
    return ts(rec) - int(rec.get("duration_ms", "0")) / 1000.0


def not_after_epoch(creds):
    return calendar.timegm(time.strptime(creds.dates()[1], "%b %d %H:%M:%S %Y GMT"))


class CertificateRotation(MTLSTestCase):
    PODS = ("a", "b")
    MESHED = ("a", "b")

    def _wait_reload(self, name, serial, start_line):
        """Waits for pod `name`'s proxy to log `credentials reloaded serial=<serial>`; returns the record."""
        proxy = self.proxy(name)
        line = proxy.wait_for_log(r'msg="credentials reloaded"', timeout=10, start=start_line)
        rec = parse_logfmt(line)
        self.assertEqual(pki.normalize_serial(rec.get("serial", "0")), pki.normalize_serial(serial), line)
        self.assertIn("not_after", rec, line)
        return rec

    def test_rotation_during_load_fails_no_request_and_peers_see_the_new_serial(self):
        a, b = self.pod("a"), self.pod("b")
        pa, pb = self.proxy("a"), self.proxy("b")
        _, token = self.http_server(b, HTTP_PORT)
        old = {"a": self.creds["a"].serial(), "b": self.creds["b"].serial()}
        load = self.spawn_tls_app(a, "http-loop", "http-loop", "--url", "http://%s:%d/hello.txt" % (b.ip4, HTTP_PORT),
                                  "--seconds", LOAD_SECONDS, "--parallel", 2, "--expect", token)
        self.wait_line(load, "STARTED")
        t0 = time.monotonic()
        time.sleep(3)
        new_b = self.rotate("b")
        reload_b = self._wait_reload("b", new_b, 0)
        time.sleep(max(0.0, 6 - (time.monotonic() - t0)))
        new_a = self.rotate("a")
        reload_a = self._wait_reload("a", new_a, 0)
        out = self.proc_result(load, timeout=LOAD_SECONDS + 20)
        self.assertEqual(out["failed"], 0, "requests failed during the rotations: %s" % out)
        self.assertGreater(out["ok"], 20, out)
        self.assertNotEqual(new_b, old["b"])

        # Peers see the new certificates: the first full handshakes after the reload carry the
        # new serial, and once connections in flight at the reload have ended (0.5 s), every
        # connection does — resumed ones too, as a resumed session carries the certificate of the
        # handshake that made it.
        def check(records, reload_rec, new, old_serial, who):
            after = [r for r in records if started(r) > ts(reload_rec)]
            full = [r for r in after if r.get("resumed") == "0"]
            # The store swaps the credentials a moment before it logs the reload, so under load
            # the first full handshake with the new certificate may start just before the log
            # line's timestamp; its resumptions follow it.
            around = [r for r in records if started(r) > ts(reload_rec) - 0.2 and r.get("resumed") == "0"
                      and pki.normalize_serial(r.get("peer_serial", "0")) == pki.normalize_serial(new)]
            self.assertTrue(full or around, "no full handshake with %s after its rotation (%d connections after it, all resumed)"
                            % (who, len(after)))
            settled = [r for r in after if started(r) > ts(reload_rec) + 0.5]
            for group, what in ((full, "full handshakes"), (settled, "connections from 0.5 s after the reload on")):
                stale = [r for r in group if pki.normalize_serial(r.get("peer_serial", "0")) != pki.normalize_serial(new)]
                self.assertEqual(stale[:3], [], "%d of %d %s after %s's rotation saw serial %s, not %s (old %s)"
                                 % (len(stale), len(group), what, who, stale and stale[0].get("peer_serial"), new, old_serial))
            self.assertTrue(settled, "no connection with %s well after its rotation" % who)
            return len(after), len(full)

        outbound = pa.wait_records(lambda r: same_endpoint(r.get("dst"), b.ip4, HTTP_PORT), dir="outbound", count=out["ok"])
        inbound = pb.wait_records(lambda r: same_endpoint(r.get("dst"), b.ip4, HTTP_PORT), dir="inbound", count=out["ok"])
        for rec in outbound + inbound:
            self.assertEqual(rec["end"], "closed", rec)
            self.assertEqual(rec.get("tls"), "mtls", rec)
        n_b = check(outbound, reload_b, new_b, old["b"], "b")
        n_a = check(inbound, reload_a, new_a, old["a"], "a")
        self.assertAlmostEqual(self.metric("b", "weft_certificate_expiration_timestamp_seconds"),
                               not_after_epoch(self.creds["b"]), delta=2)
        print("\n    %d requests, 0 failed; after b's rotation %d connections (%d full handshakes), after a's %d (%d)"
              % ((out["ok"],) + n_b + n_a), end=" ")


class CertificateLifecycle(MTLSTestCase):
    PODS = ("a", "b")
    MESHED = ("a", "b")

    def test_readiness_is_503_while_the_certificate_is_expired(self):
        a, b = self.pod("a"), self.pod("b")
        creds = self.ca.issue("b", ttl="6s", out=self.ca.workload_dir("b-short-lived"))
        pb = self.restart_proxy("b", self.sidecar_yaml("b", creds=creds))
        _, token = self.http_server(b, HTTP_PORT)
        self.assertEqual(self.health("b")[0], 200, self.health("b"))
        self.assertEqual(self.metric("b", "weft_certificate_valid"), 1)
        res = self.curl(a, "http://%s:%d/hello.txt" % (b.ip4, HTTP_PORT))
        self.assertEqual(res.stdout.strip(), token, res.stderr)

        status, body = self.wait_health("b", 503, timeout=12)
        self.assertTrue(re.search(r"expired|not valid", body, re.I), body)
        self.assertIn(creds.serial(), body.upper().replace(":", ""), "the reason names the certificate: %s" % body)
        pb.wait_for_log(r'level=error msg="credentials', timeout=5)
        self.assertEqual(self.metric("b", "weft_certificate_valid"), 0)
        # No mTLS connection to b while its certificate is expired: a's sidecar refuses the
        # certificate (expired), or b's refuses to present it.
        res = self.curl(a, "http://%s:%d/hello.txt" % (b.ip4, HTTP_PORT))
        self.assertNotEqual(res.returncode, 0, res.stdout)
        rec = self.proxy("a").wait_records(lambda r: r["end"] != "closed", dir="outbound")[0]
        self.assertEqual(rec["end"], "tls-handshake-failed", rec)
        self.assertIn(self.reason_token(rec), ("expired", "handshake-eof", "rejected-by-peer"), rec)

        # A renewed certificate in the same place makes b ready and reachable again.
        lines = len(pb.log_lines())
        renewed = self.ca.issue("b", out=creds.dir)
        pb.wait_for_log(r'msg="credentials reloaded"', timeout=10, start=lines)
        self.wait_health("b", 200, timeout=10)
        res = self.curl(a, "http://%s:%d/hello.txt" % (b.ip4, HTTP_PORT))
        self.assertEqual(res.stdout.strip(), token, res.stderr)
        rec = self.proxy("a").wait_records(lambda r: r["end"] == "closed", dir="outbound", count=2)[-1]
        self.assertMTLSRecord(rec, pki.spiffe_id("b"), serial=renewed.serial())

    def test_readiness_is_503_while_the_key_is_unreadable(self):
        a, b = self.pod("a"), self.pod("b")
        creds = self.ca.issue("b", out=self.ca.workload_dir("b-unreadable"))
        pb = self.restart_proxy("b", self.sidecar_yaml("b", creds=creds))
        _, token = self.http_server(b, HTTP_PORT)
        self.assertEqual(self.health("b")[0], 200, self.health("b"))

        # A new key.pem that uid 1337 cannot read (root's, 0600), renamed over the old one.
        lines = len(pb.log_lines())
        bad = creds.key + ".root-only"
        with open(creds.key, "rb") as src, open(bad, "wb") as dst:
            dst.write(src.read())
        os.chmod(bad, 0o600)
        os.rename(bad, creds.key)
        status, body = self.wait_health("b", 503, timeout=10)
        self.assertTrue(re.search(r"unreadable|permission|EACCES", body, re.I), body)
        pb.wait_for_log(r'level=error msg="credentials', timeout=5, start=lines)
        self.assertGreaterEqual(self.metric("b", "weft_credential_reloads_total", result="failed"), 1)
        # The certificate already loaded still serves the mesh.
        res = self.curl(a, "http://%s:%d/hello.txt" % (b.ip4, HTTP_PORT))
        self.assertEqual(res.stdout.strip(), token, res.stderr)

        lines = len(pb.log_lines())
        renewed = self.ca.issue("b", out=creds.dir)  # as uid 1337: readable again
        pb.wait_for_log(r'msg="credentials reloaded"', timeout=10, start=lines)
        self.wait_health("b", 200, timeout=10)
        res = self.curl(a, "http://%s:%d/hello.txt" % (b.ip4, HTTP_PORT))
        self.assertEqual(res.stdout.strip(), token, res.stderr)
        self.assertMTLSRecord(self.proxy("a").wait_records(dir="outbound")[-1], pki.spiffe_id("b"),
                              serial=renewed.serial())

    def test_a_sidecar_whose_key_is_unreadable_at_start_is_never_ready(self):
        # Weft refuses to start (exit 1, naming the file) rather than run without a certificate;
        # serving 503 until the file is readable would do as well. Either way: never ready.
        b = self.pod("b")
        creds = self.ca.issue("b", out=self.ca.workload_dir("b-unreadable-at-start"))
        os.chown(creds.key, 0, 0)  # 0600 and root's: uid 1337 cannot read it
        old = self.proxy("b")
        old.expected_dead = True
        old.stop(timeout=5)
        proxy = b.start_proxy(self.sidecar_yaml("b", creds=creds), name="proxy-unreadable", wait_ready=False)
        self._proxies["b"] = proxy
        rc = proxy.wait(timeout=5)
        if rc is not None:
            proxy.expected_dead = True
            self.assertEqual(rc, 1, proxy.tail())
            self.assertIn(creds.key, proxy.log_text())
        else:
            status, body = self.wait_health("b", 503, timeout=10)
            self.assertTrue(re.search(r"unreadable|permission|EACCES", body, re.I), body)

    def test_weft_ca_refuses_ids_outside_its_trust_domain(self):
        out = tempfile.mkdtemp(prefix="weft-ca-refusal-", dir=self.mesh.log_dir)
        for bad in ("spiffe://other.example/ns/default/sa/x", "spiffe://cluster.local", "spiffe://cluster.local/ns//sa/x",
                    "https://cluster.local/ns/default/sa/x"):
            res = self.ca.issue_raw("--id", bad, "--out", out)
            self.assertEqual(res.returncode, 2, (bad, res.stdout, res.stderr))
            self.assertTrue(res.stderr.strip(), "a reason on stderr for %s" % bad)
        self.assertEqual(os.listdir(out), [], "nothing written for a refused id")


if __name__ == "__main__":
    unittest.main()
