"""The sidecar's lifecycle and admin surface: `weft wait` holds an application until its proxy is
ready, the log level changes at run time through the admin API, and the admin port (127.0.0.1:15000)
is reachable only from inside the pod while the metrics port is reachable from others."""

import time
import unittest

import mesh as meshlib
from weftcase import MeshTestCase


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


if __name__ == "__main__":
    unittest.main()
