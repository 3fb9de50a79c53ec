"""HTTP/1.1 through both sidecars at L7: unmodified clients in pod a (curl, or the raw-socket
clients of apps/httpapps.py) talk to the recording backend in pod b, which answers every request
and logs what it received. Pod c has no sidecar (straight at b's inbound sidecar).

Keep-alive (1000 requests on one connection), pipelining answered in order, a WebSocket upgrade
that becomes a byte tunnel, a 2 GiB chunked upload byte-exact (WEFT_HTTP_UPLOAD_BYTES shrinks it),
Expect: 100-continue, bodyless responses (HEAD, 204, 304 with a Content-Length), a chunked response
with a trailer, 1xx forwarded, a response delimited by the server closing, 503 with x-weft-reason
when the application is not there, and the access log switched off.
"""

import hashlib
import os
import sys
import unittest

import mesh as meshlib
from httpcase import HTTPHelpers, header
from mesh import same_endpoint
from weftcase import MeshTestCase, wait_until

sys.path.insert(0, meshlib.APPS)
from tcpapps import pattern_block  # noqa: E402

PORT = 8080
UPLOAD = int(os.environ.get("WEFT_HTTP_UPLOAD_BYTES", str(2 << 30)))


def to(host, port):
    return lambda r: same_endpoint(r.get("dst"), host, port)


class HTTPThroughSidecars(HTTPHelpers, MeshTestCase):
    PODS = ("a", "b", "c")
    INIT_PODS = ("a", "b")
    PROXY_PODS = ("a", "b")

    def _seen(self, resp):
        """(conn, n, method, target) of a backend answer `seen <conn> <n> <METHOD> <target> ...`."""
        words = resp["body"].split()
        self.assertEqual(words[:1], ["seen"], resp)
        return int(words[1]), int(words[2]), words[3], words[4]

    def test_1000_sequential_requests_on_one_keep_alive_connection(self):
        a, b = self.pod("a"), self.pod("b")
        backend = self.record_server(b, PORT)
        out = self.http(a, b.ip4, PORT, [{"path": "/ka"}], repeat=1000, summary=True, timeout=120)
        self.assertEqual(out["error"], "", {k: out[k] for k in ("error", "closed", "elapsed")})
        self.assertEqual(len(out["responses"]), 1000)
        self.assertTrue(all(r["status"] == 200 for r in out["responses"]))
        seen = [self._seen(r) for r in out["responses"]]
        self.assertEqual({s[0] for s in seen}, {seen[0][0]}, "one upstream connection carries all 1000")
        self.assertEqual([s[1] for s in seen], list(range(1, 1001)), "answered in order, each once")
        self.assertFalse(out["closed"], "the connection is still open after 1000 requests")
        self.assertEqual(len(backend.requests()), 1000)
        for proxy, direction in ((self.proxy("a"), "outbound"), (self.proxy("b"), "inbound")):
            reqs = proxy.request_records(dir=direction)
            self.assertEqual(len(reqs), 1000, "%s: one access log line per request" % direction)
            self.assertEqual({r["status"] for r in reqs}, {"200"})
        recs = self.proxy("b").wait_records(to(b.ip4, PORT), dir="inbound")
        self.assertEqual(len(recs), 1, "one inbound connection: %s" % recs[:3])
        print("\n    1000 requests in %.2f s on one connection through two sidecars" % out["elapsed"], end=" ")

    def test_pipelined_requests_are_answered_in_order(self):
        a, b, c = self.pod("a"), self.pod("b"), self.pod("c")
        backend = self.record_server(b, PORT)
        script = []
        for i in range(12):
            script += [{"path": "/p/%d/get" % i},
                       {"method": "POST", "path": "/p/%d/cl" % i, "body": "body-%d-" % i * 50},
                       {"method": "POST", "path": "/p/%d/chunked" % i, "headers": [["Transfer-Encoding", "chunked"]],
                        "body": "5\r\nchunk\r\n%x\r\n%s\r\n0\r\n\r\n" % (len("more-%d" % i), "more-%d" % i)},
                       {"method": "HEAD", "path": "/p/%d/head" % i}]
        script += [{"path": "/status/204"}, {"path": "/chunked-response"}, {"path": "/p/last"}]
        for pod in (a, c):
            out = self.http(pod, b.ip4, PORT, script, pipeline=True)
            self.assertEqual(out["error"], "", out["error"])
            resp = out["responses"]
            self.assertEqual(len(resp), len(script))
            for q, r in zip(script, resp):
                if q.get("method") == "HEAD":
                    self.assertEqual((r["status"], r["body_len"], header(r, "content-length")), (200, 0, "1024"), r)
                elif q["path"] == "/status/204":
                    self.assertEqual((r["status"], r["body_len"]), (204, 0), r)
                elif q["path"] == "/chunked-response":
                    self.assertEqual(r["body"], "alpha-bravo-charlie-delta-echo\n", r)
                else:
                    self.assertEqual(self._seen(r)[2:], (q.get("method", "GET"), q["path"]), "out of order: %s for %s" % (r, q))
            self.assertFalse(out["closed"])
        bodies = {r["target"]: r for r in backend.requests()}
        self.assertEqual(bodies["/p/3/chunked"]["body_sha256"], hashlib.sha256(b"chunkmore-3").hexdigest())
        self.assertEqual(bodies["/p/3/cl"]["body_len"], 350)
        self.assertEqual(len(backend.requests()), 2 * len(script))

    def test_websocket_upgrade_becomes_an_echoing_tunnel(self):
        a, b, c = self.pod("a"), self.pod("b"), self.pod("c")
        backend = self.record_server(b, PORT)
        for pod in (a, c):
            out = self.http_app(pod, "ws-client", "--host", b.ip4, "--port", PORT)
            self.assertEqual(out["status"], 101, out)
            self.assertTrue(out["ok"], out)
            self.assertEqual(out["greeting"], "welcome", "the frame sent with the 101 arrives: %s" % out)
        self.assertEqual([e["frames"] for e in backend.events("websocket")], [3, 3])
        for proxy, direction in ((self.proxy("a"), "outbound"), (self.proxy("b"), "inbound")):
            reqs = proxy.request_records(dir=direction)
            self.assertTrue(reqs and all(r["status"] == "101" for r in reqs), reqs)
        rec = self.proxy("a").wait_records(to(b.ip4, PORT), dir="outbound")[0]
        self.assertEqual(rec["end"], "closed", rec)
        self.assertGreater(int(rec["sent"]), 70000, "the frames went through the tunnel: %s" % rec)

    def test_chunked_upload_arrives_intact(self):
        a, b = self.pod("a"), self.pod("b")
        backend = self.record_server(b, PORT)
        out = self.http_app(a, "upload-client", "--host", b.ip4, "--port", PORT, "--bytes", UPLOAD, "--timeout", 60,
                            timeout=900)
        self.assertEqual(out["error"], "", out)
        self.assertEqual(out["status"], 200, out)
        self.assertEqual((out["backend_len"], out["backend_sha256"]), (UPLOAD, out["sha256"]), out)
        req = backend.requests(target="/upload")[0]
        self.assertEqual(req["framing"], "chunked", req)
        rec = self.proxy("b").request_records(dir="inbound")[0]
        self.assertEqual((rec["status"], rec["request_bytes"]), ("200", str(UPLOAD)), rec)
        print("\n    %d MiB chunked upload in %.1f s (%.0f MiB/s) through two sidecars"
              % (UPLOAD >> 20, out["elapsed"], (UPLOAD >> 20) / out["elapsed"]), end=" ")

    def test_expect_100_continue_through_both_sidecars(self):
        a, b = self.pod("a"), self.pod("b")
        backend = self.record_server(b, PORT)
        body = os.urandom(256 << 10)
        path = self.mesh.log_path("upload.bin")
        with open(path, "wb") as f:
            f.write(body)
        # curl waits up to 20 s for the 100 before sending the body anyway: a 100 that got lost
        # shows as a slow request.
        res = self.curl(a, "http://%s:%d/expect" % (b.ip4, PORT), timeout=30,
                        extra=["-v", "-H", "Expect: 100-continue", "--expect100-timeout", "20", "--data-binary", "@" + path])
        self.assertEqual(res.returncode, 0, res.stderr[-2000:])
        self.assertIn("< HTTP/1.1 100 Continue", res.stderr, "the 100 reached curl")
        self.assertLess(res.elapsed, 10, "curl did not wait for its expect timeout")
        self.assertEqual(res.stdout.split()[:5], ["seen", res.stdout.split()[1], "1", "POST", "/expect"], res.stdout)
        req = backend.requests(target="/expect")[0]
        self.assertEqual(req["body_sha256"], hashlib.sha256(body).hexdigest())

    def test_bodyless_responses_keep_the_framing(self):
        a, b = self.pod("a"), self.pod("b")
        self.record_server(b, PORT)
        script = [{"method": "HEAD", "path": "/h"}, {"path": "/status/204"}, {"path": "/status/304"},
                  {"method": "HEAD", "path": "/h2"}, {"path": "/after"}]
        out = self.http(a, b.ip4, PORT, script)
        self.assertEqual(out["error"], "", out)
        got = [(r["status"], r["body_len"]) for r in out["responses"]]
        self.assertEqual(got[:4], [(200, 0), (204, 0), (304, 0), (200, 0)], out)
        self.assertEqual(header(out["responses"][0], "content-length"), "1024", "HEAD keeps the length of the GET")
        self.assertEqual(self._seen(out["responses"][4])[1:], (5, "GET", "/after"), out["responses"][4])
        self.assertFalse(out["closed"])
        reqs = self.proxy("a").request_records(dir="outbound")
        self.assertEqual([(r["method"], r["status"], r["response_bytes"]) for r in reqs],
                         [("HEAD", "200", "0"), ("GET", "204", "0"), ("GET", "304", "0"), ("HEAD", "200", "0"),
                          ("GET", "200", reqs[4]["response_bytes"])])

    def test_response_read_until_close_reaches_the_client(self):
        a, b = self.pod("a"), self.pod("b")
        self.record_server(b, PORT)
        size = 3 << 20
        block = bytes(pattern_block("until-close", 65536))
        want = hashlib.sha256((block * (size // len(block) + 1))[:size]).hexdigest()
        res = a.run(["sh", "-c", "curl -sS --noproxy '*' --max-time 20 -D /dev/stderr http://%s:%d/until-close?bytes=%d | sha256sum"
                     % (b.ip4, PORT, size)], timeout=30)
        self.assertEqual(res.stdout.split()[0], want, "the whole body, up to the server's close: %s" % res.stderr)
        self.assertIn("HTTP/1.1 200", res.stderr)
        for proxy, direction in ((self.proxy("a"), "outbound"), (self.proxy("b"), "inbound")):
            # The access log is written off the data path: wait for the line.
            self.assertTrue(wait_until(lambda: proxy.request_records(dir=direction)), "%s: no request record" % direction)
            rec = proxy.request_records(dir=direction)[0]
            self.assertEqual((rec["status"], rec["response_bytes"]), ("200", str(size)), rec)

    def test_chunked_response_with_trailer_and_early_hints(self):
        a, b = self.pod("a"), self.pod("b")
        self.record_server(b, PORT)
        out = self.http(a, b.ip4, PORT, [{"path": "/chunked-response"}, {"path": "/1xx"}, {"path": "/z"}])
        self.assertEqual(out["error"], "", out)
        r0, r1, r2 = out["responses"]
        self.assertEqual((r0["status"], r0["framing"], r0["body"]), (200, "chunked", "alpha-bravo-charlie-delta-echo\n"), r0)
        self.assertEqual([i["status"] for i in r1["interim"]], [103], "the 103 is forwarded: %s" % r1)
        self.assertEqual(self._seen(r1)[2:], ("GET", "/1xx"))
        self.assertEqual(self._seen(r2)[1:], (3, "GET", "/z"))

    def test_no_application_is_a_503_with_the_reason(self):
        a, b, c = self.pod("a"), self.pod("b"), self.pod("c")
        self.assertNotIn(8099, b.listening_ports())
        for pod in (a, c):
            out = self.http(pod, b.ip4, 8099, [{"path": "/nobody"}])
            self.assertEqual(out["error"], "", out)
            self.assertProxyAnswer(out["responses"][0], 503, "upstream connect failed: ")
            rec = self.proxy("b").request_records(dir="inbound", path="/nobody")[-1]
            self.assertEqual((rec["status"], rec["response_flags"]), ("503", "UF"), rec)
            self.assertTrue(rec.get("reason", "").startswith("upstream connect failed: "), rec)

    def test_access_log_can_be_switched_off(self):
        a, b = self.pod("a"), self.pod("b")
        pb = self.restart_proxy("b", "apiVersion: weft.io/v1\nkind: Sidecar\nspec:\n  accessLog: {enabled: false}\n")
        self.record_server(b, PORT)
        out = self.http(a, b.ip4, PORT, [{"path": "/quiet"}] * 3)
        self.assertEqual([r["status"] for r in out["responses"]], [200] * 3, out)
        self.assertTrue(wait_until(lambda: len(self.proxy("a").request_records(dir="outbound")) == 3),
                        "a's access log is on: %s" % self.proxy("a").request_records())
        self.assertEqual([l for l in pb.log_lines() if l.startswith("{")], [], "b writes no access log")


if __name__ == "__main__":
    unittest.main()
