"""The sidecar's lifecycle and admin surface: `weft wait` holds an application until its proxy is
ready, the log level changes at run time through the admin API, and the admin port (127.0.0.1:15000)
is reachable only from inside the pod while the metrics port is reachable from others. With mTLS,
`weft status` summarises the sidecar (identity, certificate expiry, config version, listeners,
connections), `/certs` shows the certificate the mesh's CA issued and `/stats` lists counters."""

import json
import re
import signal
import time
import unittest

import mesh as meshlib
import pki
from mtlscase import MTLSTestCase
from weftcase import MeshTestCase, wait_until


class Lifecycle(MeshTestCase):
    PODS = ("a", "b")
    START_PROXIES = False

    def admin(self, pod, method, path):
        res = pod.run(["curl", "-sS", "--noproxy", "*", "--max-time", "5", "-X", method, "-w", "\n%{http_code}",
                       "http://127.0.0.1:15000" + path])
        body, _, code = res.stdout.rpartition("\n")
        return int(code or 0), body

    def test_weft_wait_returns_once_the_proxy_is_ready_and_times_out_with_the_reason(self):
        a = self.pod("a")
        res = a.run([meshlib.weft_bin(), "wait", "--timeout", "1s"], timeout=10)
        self.assertEqual(res.returncode, 1, res.stderr)
        self.assertIn("was not ready within 1s", res.stderr)
        self.assertIn("nothing listens on 127.0.0.1:15021", res.stderr)
        waiter = a.spawn([meshlib.weft_bin(), "wait", "--timeout", "30s"], "wait")
        time.sleep(1.0)
        self.assertTrue(waiter.alive(), "weft wait returned before any proxy ran")
        started = time.monotonic()
        self.restart_proxy("a")
        self.assertEqual(waiter.wait(20), 0, waiter.log_text())
        self.assertLess(time.monotonic() - started, 10)
        self.assertIn("the proxy is ready", waiter.log_text())
        self.assertEqual(a.run([meshlib.weft_bin(), "wait", "--timeout", "x"]).returncode, 2)

    def test_log_level_changes_at_run_time_and_admin_stays_local(self):
        a, b = self.pod("a"), self.pod("b")
        proxy = self.restart_proxy("a")
        self.restart_proxy("b")
        self.assertEqual(self.admin(a, "GET", "/logging"), (200, "level: info\n"))
        self.assertEqual(self.admin(a, "GET", "/live"), (200, "live\n"))
        self.assertEqual(self.admin(a, "GET", "/ready"), (200, "ready\n"))
        code, body = self.admin(a, "POST", "/logging?level=loud")
        self.assertEqual(code, 400, body)
        self.assertIn("debug", body)
        code, body = self.admin(a, "POST", "/logging?level=debug")
        self.assertEqual((code, body), (200, "level: debug (was info)\n"))
        proxy.wait_for_log(r'msg="log level changed" from=info to=debug', timeout=5)
        self.assertEqual(self.admin(a, "GET", "/logging"), (200, "level: debug\n"))
        # From pod b: a's metrics port answers, a's admin port does not (bound to loopback).
        metrics = b.run(["curl", "-sS", "--noproxy", "*", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}",
                         "http://%s:15090/stats/prometheus" % a.ip4])
        self.assertEqual(metrics.stdout, "200", metrics.stderr)
        # The request reaches a's inbound sidecar, which finds nothing on a's address at 15000.
        remote = b.run(["curl", "-sS", "--noproxy", "*", "--max-time", "5", "-w", "\n%{http_code}",
                        "http://%s:15000/config_dump" % a.ip4])
        body, _, code = remote.stdout.rpartition("\n")
        self.assertNotEqual(code, "200", "a's admin API answered pod b: %s" % body[:200])
        self.assertIn("ECONNREFUSED", body)


HTTP_PORT = 8080


def rfc3339(openssl_date):
    """'Nov 29 09:59:01 2026 GMT' (openssl x509 -enddate) -> '2026-11-29T09:59:01Z'."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.strptime(openssl_date, "%b %d %H:%M:%S %Y %Z"))


class Introspection(MTLSTestCase):
    """Pods a and b run mTLS sidecars with identities from the test's CA; c has no sidecar."""
    PODS = ("a", "b", "c")
    MESHED = ("a", "b")

    def weft(self, pod, *args):
        return pod.run([meshlib.weft_bin()] + list(args), timeout=15)

    def status_json(self, pod):
        res = self.weft(pod, "status", "--json")
        self.assertEqual(res.returncode, 0, res.stderr)
        return json.loads(res.stdout)

    def admin_get(self, pod, path):
        res = pod.run(["curl", "-sS", "-g", "--noproxy", "*", "--max-time", "5", "-w", "\n%{http_code}",
                       "http://127.0.0.1:15000" + path])
        body, _, code = res.stdout.rpartition("\n")
        self.assertEqual(code, "200", "GET %s: %s %s" % (path, res.stdout[-500:], res.stderr))
        return body

    def test_weft_status_prints_identity_certificate_expiry_config_version_and_listeners(self):
        a = self.pod("a")
        res = self.weft(a, "status")
        self.assertEqual(res.returncode, 0, res.stderr)
        out = res.stdout
        self.assertRegex(out, r"^weft \S+, pid %d, up \d" % self.proxy("a").pid)
        self.assertRegex(out, r"\nstate +ready\n")
        self.assertRegex(out, r"\nidentity +%s\n" % re.escape(pki.spiffe_id("a")))
        _, not_after = self.creds["a"].dates()
        # A 24h certificate issued when the class started: less than a day (or, within the
        # issuing second, exactly one) is left.
        m = re.search(r"\ncertificate +serial ([0-9A-F]+), expires (\S+), in ([01]) days? \((\d+)h(\d+)m\)\n", out)
        self.assertIsNotNone(m, out)
        self.assertEqual(pki.normalize_serial(m.group(1)), self.creds["a"].serial(), out)
        self.assertEqual(m.group(2), rfc3339(not_after), out)
        self.assertRegex(out, r"\nconfig +traffic version 1: 0 Services, 0 EndpointSlices, 0 HTTPRoutes, 0 DestinationRules\n")
        self.assertRegex(out, r"\nlisteners +outbound \[::\]:15001, inbound \[::\]:15006, health \[::\]:15021, "
                              r"metrics \[::\]:15090, admin 127\.0\.0\.1:15000\n")
        self.assertRegex(out, r"\nconnections +0 active \(0 outbound, 0 inbound\)")

    def test_weft_status_json_counts_connections_as_the_metrics_do(self):
        a, b = self.pod("a"), self.pod("b")
        _, token = self.http_server(b, HTTP_PORT)
        requests = 3
        for _ in range(requests):
            res = self.curl(a, "http://%s:%d/hello.txt" % (b.ip4, HTTP_PORT))
            self.assertEqual((res.returncode, res.stdout.strip()), (0, token), res.stderr)
        # A connection that stays open: silent, so it is relayed as opaque TCP after detection.
        hold = a.spawn([meshlib.PYTHON, "-u", "-c",
                        "import socket, time\n"
                        "s = socket.create_connection((%r, %d))\n"
                        "print('connected', flush=True)\n"
                        "time.sleep(60)\n" % (b.ip4, HTTP_PORT)], "hold")
        self.wait_line(hold, "connected")

        def held():
            sa, sb = self.status_json(a), self.status_json(b)
            if sa["connections"]["active"]["outbound"] == 1 and sb["connections"]["active"]["inbound"] == 1:
                return sa, sb
            return None
        seen = wait_until(held, timeout=10, interval=0.2)
        self.assertIsNotNone(seen, "the held connection is not active in a's and b's status: %s / %s"
                             % (self.status_json(a)["connections"], self.status_json(b)["connections"]))
        sa, sb = seen
        self.assertEqual(sa["connections"]["active"], {"total": 1, "outbound": 1, "inbound": 0})
        self.assertEqual(sa["connections"]["opened"]["outbound"], requests + 1)
        self.assertEqual(sa["identity"], pki.spiffe_id("a"))
        self.assertEqual(sb["identity"], pki.spiffe_id("b"))
        self.assertEqual(pki.normalize_serial(sa["certificate"]["serial_number"]), self.creds["a"].serial())
        self.assertTrue(sa["certificate"]["valid"])
        self.assertTrue(0 < sa["certificate"]["seconds_until_expiration"] <= 86400, sa["certificate"])
        self.assertEqual((sa["ready"], sa["draining"], sa["problems"]), (True, False, []))
        self.assertEqual(sa["traffic_config"]["version"], 1)
        self.assertEqual(sa["pid"], self.proxy("a").pid)
        self.assertEqual(sa["listeners"]["admin"], "127.0.0.1:15000")
        self.assertGreaterEqual(sa["workers"], 1)
        # The same counts as the Prometheus counters.
        self.assertEqual(sa["connections"]["opened"]["outbound"],
                         self.metric("a", "weft_connections_opened_total", direction="outbound"))
        self.assertEqual(sb["connections"]["opened"]["inbound"],
                         self.metric("b", "weft_connections_opened_total", direction="inbound"))
        # Once the client is gone, nothing is active any more.
        hold.send_signal(signal.SIGKILL)

        def idle():
            sa, sb = self.status_json(a), self.status_json(b)
            return sa["connections"]["active"]["total"] == 0 and sb["connections"]["active"]["total"] == 0
        self.assertTrue(wait_until(idle, timeout=10, interval=0.2),
                        "%s / %s" % (self.status_json(a)["connections"], self.status_json(b)["connections"]))

    def test_certs_shows_the_serial_and_trust_anchor_the_mesh_ca_issued(self):
        a = self.pod("a")
        certs = json.loads(self.admin_get(a, "/certs"))
        self.assertEqual(len(certs["certificates"]), 1, certs)
        entry = certs["certificates"][0]
        self.assertEqual(entry["identity"], pki.spiffe_id("a"))
        self.assertEqual(entry["trust_domain"], pki.TRUST_DOMAIN)
        self.assertEqual(entry["generation"], 1)
        self.assertEqual(entry["files"], {"certificate_chain": self.creds["a"].chain, "private_key": self.creds["a"].key,
                                          "trust_bundle": self.creds["a"].root})
        workload = entry["workload"]
        self.assertEqual(pki.normalize_serial(workload["serial_number"]), self.creds["a"].serial())
        self.assertEqual(workload["subject_alt_names"], [{"uri": pki.spiffe_id("a")}])
        not_before, not_after = self.creds["a"].dates()
        self.assertEqual((workload["not_before"], workload["not_after"]), (rfc3339(not_before), rfc3339(not_after)))
        self.assertTrue(workload["valid"])
        self.assertEqual(workload["days_until_expiration"], workload["seconds_until_expiration"] // 86400)
        self.assertFalse(workload["is_ca"])
        self.assertEqual(entry["intermediates"], [])
        anchors = entry["trust_anchors"]
        self.assertEqual([pki.normalize_serial(t["serial_number"]) for t in anchors], [pki.cert_serial(self.ca.root)])
        self.assertTrue(anchors[0]["is_ca"])
        self.assertIn("O=%s" % pki.TRUST_DOMAIN, anchors[0]["subject"])

    def test_stats_lists_counters_and_filters_them(self):
        a, b = self.pod("a"), self.pod("b")
        _, token = self.http_server(b, HTTP_PORT)
        res = self.curl(a, "http://%s:%d/hello.txt" % (b.ip4, HTTP_PORT))
        self.assertEqual((res.returncode, res.stdout.strip()), (0, token), res.stderr)
        # The connection's end is counted once the proxy has seen both sides close.
        self.assertTrue(wait_until(lambda: self.status_json(a)["connections"]["active"]["total"] == 0, timeout=10))
        everything = self.admin_get(a, "/stats").splitlines()
        self.assertEqual(everything, sorted(everything))
        for line in everything:
            self.assertRegex(line, r"^(weft|istio)_[a-z_]+(\{[^}]*\})?: \d+(\.\d+)?$")
        self.assertTrue(any(line.startswith("istio_request_duration_milliseconds_count{") and line.endswith(": 1") for line in everything),
                        "a histogram shows as its count (and sum)")
        self.assertIn("weft_certificate_valid: 1", everything)
        self.assertIn("weft_traffic_config_version: 1", everything)
        self.assertTrue(any(re.match(r"weft_tls_handshakes_total\{direction=outbound,result=ok\}: [1-9]", line) for line in everything),
                        everything)
        filtered = self.admin_get(a, "/stats?filter=weft_connections").splitlines()
        self.assertTrue(filtered, "nothing matched")
        self.assertEqual(filtered, [line for line in everything if "weft_connections" in line.split(": ")[0]])
        self.assertIn("weft_connections_opened_total{direction=outbound}: 1", filtered)
        used = self.admin_get(a, "/stats?filter=weft_connections&usedonly").splitlines()
        self.assertEqual(used, [line for line in filtered if not line.endswith(": 0")])
        self.assertEqual(sum(int(line.rsplit(": ", 1)[1]) for line in used if line.startswith("weft_connections_closed_total")), 1, used)

    def test_weft_status_without_a_proxy_exits_1_and_says_where_it_looked(self):
        c = self.pod("c")  # no sidecar in this pod
        res = self.weft(c, "status")
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        self.assertEqual(res.stdout, "")
        self.assertIn("nothing listens on 127.0.0.1:15000", res.stderr)
        self.assertIn("is `weft proxy` running in this network namespace?", res.stderr)
        self.assertEqual(self.weft(c, "status", "--json").returncode, 1)
        bad = self.weft(c, "status", "--admin", "localhost:15000")
        self.assertEqual(bad.returncode, 2, bad.stderr)
        self.assertIn("--admin", bad.stderr)


if __name__ == "__main__":
    unittest.main()
