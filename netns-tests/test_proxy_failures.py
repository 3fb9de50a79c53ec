"""How connections fail through the sidecars: resets, timeouts, loops, and a drain that runs out.

A sidecar must not turn a failure into something else: a reset stays a reset at the other end
(not a clean EOF that looks like a complete response), a dead upstream fails the client promptly,
and a connection to the proxy's own port is refused rather than looped.
"""

import signal
import time
import unittest

from mesh import same_endpoint
from weftcase import MeshTestCase


def to(host, port):
    return lambda r: same_endpoint(r.get("dst"), host, port)


def config(**timeouts):
    return ("apiVersion: weft.io/v1\nkind: Sidecar\nspec:\n  timeouts: {%s}\n"
            % ", ".join("%s: %s" % kv for kv in timeouts.items()))


class Failures(MeshTestCase):
    PODS = ("a", "b")

    def test_client_reset_reaches_the_server_as_a_reset(self):
        a, b = self.pod("a"), self.pod("b")
        srv = b.spawn_python(["watch-server", "--port", "7600"], "watch-server")
        b.wait_listen(7600, proc=srv)
        self.app(a, "rst-client", "--host", b.ip4, "--port", "7600")
        line = srv.wait_for_log(r"^END ", timeout=5).split()
        self.assertEqual(line[1:], ["127.0.0.6", "reset", "23"],
                         "the server must see the client's RST as a reset, after all 23 bytes: %s" % line)
        ra = self.proxy("a").wait_records(to(b.ip4, 7600), dir="outbound")[0]
        self.assertEqual(ra["end"], "client-reset", ra)
        rb = self.proxy("b").wait_records(to(b.ip4, 7600), dir="inbound")[0]
        self.assertEqual(rb["end"], "client-reset", rb)

    def test_server_reset_reaches_the_client_as_a_reset(self):
        a, b = self.pod("a"), self.pod("b")
        srv = b.spawn_python(["reset-server", "--port", "7700"], "reset-server")
        b.wait_listen(7700, proc=srv)
        out = self.app(a, "probe-client", "--host", b.ip4, "--port", "7700", "--timeout", "5")
        self.assertEqual(out["outcome"], "reset", "the server's RST must not become a clean EOF: %s" % out)
        ra = self.proxy("a").wait_records(to(b.ip4, 7700), dir="outbound")[0]
        self.assertEqual(ra["end"], "upstream-reset", ra)
        rb = self.proxy("b").wait_records(to(b.ip4, 7700), dir="inbound")[0]
        self.assertEqual(rb["end"], "upstream-reset", rb)

    def test_connect_timeout_from_config(self):
        a = self.pod("a")
        pa = self.restart_proxy("a", config_yaml=config(connect="1s"))
        # An address on the pods' subnet that no pod has: ARP never answers, the SYN never leaves.
        ghost = str(self.mesh.net4.network_address + 200)
        out = self.app(a, "probe-client", "--host", ghost, "--port", "8080", "--timeout", "8")
        self.assertIn(out["outcome"], ("reset", "eof"), out)
        self.assertGreater(out["elapsed"], 0.8, out)
        self.assertLess(out["elapsed"], 3.0, "the configured 1 s connect timeout should apply: %s" % out)
        ra = pa.wait_records(to(ghost, 8080), dir="outbound")[0]
        self.assertEqual(ra["end"], "connect-timeout", ra)
        self.assertEqual(ra["received"], "0", ra)

    def test_unreachable_upstream(self):
        a = self.pod("a")
        ghost = str(self.mesh.net4.network_address + 201)
        # Neighbour resolution gives up after about 3 s (EHOSTUNREACH), before the 5 s default.
        out = self.app(a, "probe-client", "--host", ghost, "--port", "8080", "--timeout", "10")
        self.assertIn(out["outcome"], ("reset", "eof"), out)
        self.assertLess(out["elapsed"], 6.0, out)
        ra = self.proxy("a").wait_records(to(ghost, 8080), dir="outbound")[0]
        self.assertIn(ra["end"], ("upstream-unreachable", "connect-timeout"), ra)

    def test_client_reset_while_connecting_is_not_held_until_the_connect_timeout(self):
        a = self.pod("a")
        ghost = str(self.mesh.net4.network_address + 202)
        # The application gives up (RST) 0.3 s into a connect that would take seconds to fail.
        code = ("import socket,struct,time\n"
                "s=socket.create_connection(('%s',8080),timeout=5)\n"
                "time.sleep(0.3)\n"
                "s.setsockopt(socket.SOL_SOCKET,socket.SO_LINGER,struct.pack('ii',1,0))\n"
                "s.close()\n") % ghost
        res = a.run(["python3", "-c", code], timeout=10)
        self.assertEqual(res.returncode, 0, res.stderr)
        rec = self.proxy("a").wait_records(to(ghost, 8080), dir="outbound")[0]
        self.assertEqual(rec["end"], "client-reset", rec)
        self.assertLess(int(rec["duration_ms"]), 2000, rec)

    def test_connecting_to_the_proxy_itself_does_not_loop(self):
        a = self.pod("a")
        pa = self.proxy("a")
        targets = [("127.0.0.1", 15001), ("::1", 15001), ("127.0.0.1", 15006), (a.ip4, 15001)]
        for host, port in targets:
            out = self.app(a, "probe-client", "--host", host, "--port", str(port), "--timeout", "5")
            self.assertIn(out["outcome"], ("reset", "eof", "refused"), (host, port, out))
            self.assertLess(out["elapsed"], 3.0, (host, port, out))
        time.sleep(0.5)
        recs = pa.connection_records()
        self.assertEqual(len(recs), len(targets), "one record per attempt, nothing looping: %s" % recs)
        for rec in recs:
            self.assertIn(rec["end"], ("not-redirected", "loop"), rec)
            self.assertEqual(rec["sent"], "0", rec)
        self.assertEqual(self.proxy("b").connection_records(), [])

    def test_drain_timeout_cuts_connections_that_outlive_it(self):
        a, b = self.pod("a"), self.pod("b")
        pa = self.restart_proxy("a", config_yaml=config(drain="1s"))
        srv = b.spawn_python(["drip-server", "--port", "7800", "--chunks", "40", "--interval", "0.25"], "drip-server")
        b.wait_listen(7800, proc=srv)
        client = a.spawn_python(["drip-client", "--host", b.ip4, "--port", "7800"], "drip-client")
        self.wait_line(client, "STARTED", timeout=10)
        pa.expected_dead = True
        t0 = time.monotonic()
        pa.send_signal(signal.SIGTERM)
        rc = pa.wait(timeout=6)
        took = time.monotonic() - t0
        self.assertEqual(rc, 0, "exit code after the drain timeout; log:\n%s" % pa.tail())
        self.assertGreater(took, 0.8, "the live connection should get the 1 s drain")
        self.assertLess(took, 3.0, "the proxy should exit once the 1 s drain is over")
        out = self.proc_result(client, timeout=5)
        self.assertFalse(out["end"], "the 10 s response cannot have completed: %s" % out)
        rec = pa.wait_records(to(b.ip4, 7800), dir="outbound", timeout=1)[0]
        self.assertEqual(rec["end"], "drain-timeout", rec)


if __name__ == "__main__":
    unittest.main()
