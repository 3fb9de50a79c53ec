"""Bulk data through two sidecars over mTLS: 1 GiB each way at once, byte-exact."""

import os
import unittest

import pki
from mesh import same_endpoint
from mtlscase import MTLSTestCase

# 1 GiB each way by default; WEFT_BULK_BYTES shrinks it for quick local runs.
BULK = int(os.environ.get("WEFT_BULK_BYTES", str(1 << 30)))


class MTLSBulk(MTLSTestCase):
    PODS = ("a", "b")
    MESHED = ("a", "b")

    def test_one_gib_each_way_at_once_over_mtls_is_byte_exact(self):
        a, b = self.pod("a"), self.pod("b")
        c, s = self.exchange_bulk(a, b, 7300, BULK, timeout=600)
        self.assertEqual(s["peer"], "127.0.0.6", "inbound passthrough source")
        recs = {}
        for name, direction, peer in (("a", "outbound", "b"), ("b", "inbound", "a")):
            rec = self.proxy(name).wait_records(lambda r: same_endpoint(r.get("dst"), b.ip4, 7300), dir=direction)[0]
            self.assertEqual(rec["end"], "closed", rec)
            self.assertMTLSRecord(rec, pki.spiffe_id(peer))
            # sent/received count the application's bytes, not TLS records.
            self.assertEqual((int(rec["sent"]), int(rec["received"])), (BULK, BULK), rec)
            recs[name] = rec
        print("\n    %d MiB each way in %.1f s over mTLS (tls_path=%s)"
              % (BULK >> 20, c["elapsed"], recs["a"].get("tls_path")), end=" ")


if __name__ == "__main__":
    unittest.main()
