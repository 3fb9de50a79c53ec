"""Bulk data through both sidecars: byte-exact in both directions at once, and iperf3."""

import json
import os
import unittest

from mesh import same_endpoint
from weftcase import MeshTestCase

# 1 GiB each way by default; WEFT_BULK_BYTES shrinks it for quick local runs.
BULK = int(os.environ.get("WEFT_BULK_BYTES", str(1 << 30)))


class Bulk(MeshTestCase):
    PODS = ("a", "b")

    def test_one_gib_each_way_at_once_is_byte_exact(self):
        a, b = self.pod("a"), self.pod("b")
        c, s = self.exchange_bulk(a, b, 7300, BULK, timeout=300)
        self.assertEqual(s["peer"], "127.0.0.6", "inbound passthrough source")
        for proxy, direction in ((self.proxy("a"), "outbound"), (self.proxy("b"), "inbound")):
            rec = proxy.wait_records(lambda r: same_endpoint(r.get("dst"), b.ip4, 7300), dir=direction)[0]
            self.assertEqual(rec["end"], "closed", rec)
            self.assertEqual((int(rec["sent"]), int(rec["received"])), (BULK, BULK), rec)
        mib = BULK / (1 << 20)
        print("\n    %d MiB each way in %.1f s (%s relay)" % (mib, c["elapsed"], rec.get("relay")), end=" ")

    def test_iperf3_both_directions(self):
        # Forward, then reverse (-R), one data stream each. Not --bidir: iperf3's server tells its
        # two data streams apart only by the order it accepts them, and no L4 proxy (two workers
        # here) preserves the order in which a client's connections reach the upstream.
        a, b = self.pod("a"), self.pod("b")
        server = b.spawn(["iperf3", "-s", "-p", "5201"], "iperf3-server")
        b.wait_listen(5201, proc=server)
        rates = []
        for extra in ([], ["-R"]):
            res = a.run(["iperf3", "-c", b.ip4, "-p", "5201", "-t", "2", "-J"] + extra, timeout=30)
            self.assertEqual(res.returncode, 0, res.stdout[-2000:] + res.stderr)
            report = json.loads(res.stdout)
            self.assertNotIn("error", report)
            end = report["end"]
            self.assertGreater(end["sum_sent"]["bytes"], 0)
            self.assertGreater(end["sum_received"]["bytes"], 0)
            rates.append(end["sum_received"]["bits_per_second"] / 1e9)
        # Each run is a control connection and a data stream, all through a's outbound listener.
        recs = self.proxy("a").wait_records(lambda r: same_endpoint(r.get("dst"), b.ip4, 5201),
                                            dir="outbound", count=4)
        self.assertGreaterEqual(len(recs), 4, recs)
        print("\n    iperf3 %.1f Gbit/s forward, %.1f Gbit/s reverse" % tuple(rates), end=" ")

if __name__ == "__main__":
    unittest.main()
