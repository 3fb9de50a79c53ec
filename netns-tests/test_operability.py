"""Operating the sidecar (issue 6): Istio's metrics after a known load (and promtool's verdict on
them), readiness while the certificate is missing, the drain on SIGTERM and POST /drain, and
/quitquitquit with `weft wait -- COMMAND` for Jobs.

Pods a and b are meshed (mTLS, STRICT); b serves HTTP on 8080 behind a policy that denies
/private, and a TCP stream server on 5432 (an opaque port)."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
import unittest

import mesh as meshlib
import pki
from mtlscase import MTLSTestCase, parse_prometheus
from weftcase import wait_until

HTTP_PORT = 8080
DENY_PRIVATE = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-private, namespace: default}
spec:
  action: DENY
  rules:
  - to:
    - operation: {paths: ["/private"], ports: ["8080"]}
"""
DRAIN = "  timeouts: {drain: %s, drainDuration: %s}"


class Operability(MTLSTestCase):
    PODS = ("a", "b")
    MESHED = ("a", "b")
    MTLS_MODE = "STRICT"
    START_PROXIES = False

    def start(self, name, extra_spec="", policy=None, creds=None, wait_ready=True):
        text = self.sidecar_yaml(name, extra_spec=extra_spec, creds=creds)
        if policy:
            text += "---\n" + policy
        return self.restart_proxy(name, text) if wait_ready else self._start_unready(name, text)

    def _start_unready(self, name, text):
        proxy = self.pod(name).start_proxy(text, name="proxy-%d" % len(self.pod(name).proxies))
        self._proxies[name] = proxy
        return proxy

    def backend(self, pod):
        """apps/trafficapps.py's keep-alive HTTP/1.1 backend on 8080 (answers `<pod>\\n`); http.server
        answers HTTP/1.0 and closes, which would hide what the drain does to keep-alive."""
        proc = pod.spawn([meshlib.PYTHON, "-u", os.path.join(meshlib.APPS, "trafficapps.py"), "backend", "--port", str(HTTP_PORT),
                          "--server-name", pod.name, "--log", self.mesh.log_path("%s-backend.jsonl" % pod.name)], "backend")
        pod.wait_listen(HTTP_PORT, proc=proc)
        return proc

    def curl_codes(self, pod, urls, extra=()):
        """One curl process (one keep-alive connection) for all `urls`; their status codes."""
        outputs = [arg for url in urls for arg in ("-o", "/dev/null", url)]
        res = pod.run(["curl", "-sS", "--noproxy", "*", "--max-time", "30", "-w", "%{http_code}\n"] + list(extra) + outputs,
                      timeout=40)
        return [int(c) for c in res.stdout.split()], res

    def admin(self, pod, method, path):
        res = pod.run(["curl", "-sS", "--noproxy", "*", "--max-time", "5", "-X", method, "-w", "\n%{http_code}",
                       "http://127.0.0.1:15000" + path])
        body, _, code = res.stdout.rpartition("\n")
        return int(code or 0), body

    # -- 1. metrics after a known load -------------------------------------------------------------

    def test_istio_metrics_count_exactly_the_load_and_pass_promtool(self):
        a, b = self.pod("a"), self.pod("b")
        _, token = self.http_server(b, HTTP_PORT)
        self.start("a")
        self.start("b", policy=DENY_PRIVATE)
        base = "http://%s:%d" % (b.ip4, HTTP_PORT)
        urls = ["%s/hello.txt" % base] * 97 + ["%s/private" % base] * 3
        codes, res = self.curl_codes(a, urls)
        self.assertEqual((codes.count(200), codes.count(403)), (97, 3), res.stderr)
        size = 300_000
        self.exchange_bulk(a, b, 5432, size, timeout=30)

        id_a, id_b = pki.spiffe_id("a"), pki.spiffe_id("b")
        common = dict(source_principal=id_a, destination_principal=id_b, request_protocol="http")

        def settled():  # the TCP connection's close is counted once both sidecars saw it end
            m = self.metrics("b")
            return m if self.metric("b", "istio_tcp_connections_closed_total", samples=m, reporter="destination") == 1 else None
        server = wait_until(settled, timeout=5)
        self.assertIsNotNone(server, "b never counted the TCP connection's close")
        client = self.metrics("a")

        served = dict(common, reporter="destination", response_code="200", response_flags="-",
                      connection_security_policy="mutual_tls", destination_workload="b",
                      destination_workload_namespace="default", source_workload_namespace="default", destination_app="b")
        denied = dict(served, response_code="403", response_flags="DENIED")
        self.assertEqual(self.metric("b", "istio_requests_total", samples=server, **served), 97)
        self.assertEqual(self.metric("b", "istio_requests_total", samples=server, **denied), 3)
        self.assertEqual(self.metric("b", "istio_requests_total", samples=server), 100, "no other series on b")
        self.assertEqual(self.metric("b", "istio_request_duration_milliseconds_count", samples=server, **served), 97)
        self.assertEqual(self.metric("b", "istio_request_duration_milliseconds_bucket", samples=server, le="+Inf", **served), 97)
        self.assertEqual(self.metric("b", "istio_response_bytes_sum", samples=server, **served), 97 * len(token + "\n"))
        self.assertEqual(self.metric("b", "istio_response_bytes_bucket", samples=server, le="100", **served), 97)
        self.assertEqual(self.metric("b", "istio_request_bytes_sum", samples=server, **served), 0)
        self.assertEqual(self.metric("b", "weft_authorization_decisions_total", samples=server,
                                     policy="default/no-private", decision="deny"), 3)

        # The client's sidecar reports the same requests as the source, to the address it was
        # sent to (no Service in its configuration: Istio's PassthroughCluster).
        sent = dict(common, reporter="source", response_code="200", connection_security_policy="unknown",
                    source_workload="a", source_app="a", destination_service="%s:%d" % (b.ip4, HTTP_PORT),
                    destination_service_name="PassthroughCluster")
        self.assertEqual(self.metric("a", "istio_requests_total", samples=client, **sent), 97)
        self.assertEqual(self.metric("a", "istio_requests_total", samples=client, **dict(sent, response_code="403")), 3)

        tcp = dict(reporter="destination", source_principal=id_a, destination_principal=id_b, request_protocol="tcp",
                   connection_security_policy="mutual_tls")
        self.assertEqual(self.metric("b", "istio_tcp_connections_opened_total", samples=server, **tcp), 1)
        self.assertEqual(self.metric("b", "istio_tcp_sent_bytes_total", samples=server, **tcp), size)
        self.assertEqual(self.metric("b", "istio_tcp_received_bytes_total", samples=server, **tcp), size)
        self.assertEqual(self.metric("a", "istio_tcp_sent_bytes_total", samples=client, reporter="source"), size)

        for name in ("a", "b"):
            code, text = self.http_get(self.pod(name), 15090, "/stats/prometheus")
            self.assertEqual(code, 200)
            check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
            # Exit 1 is a format error, 3 lint findings. The one finding allowed is the name Istio
            # gave its duration histogram (milliseconds, not the base unit): dashboards query it.
            findings = [l for l in (check.stdout + check.stderr).splitlines() if l.strip()]
            allowed = ['istio_request_duration_milliseconds use base unit "seconds" instead of "milliseconds"']
            self.assertIn(check.returncode, (0, 3), "promtool on %s's metrics:\n%s" % (name, "\n".join(findings)))
            self.assertEqual([f for f in findings if f not in allowed], [], "promtool on %s's metrics" % name)

    def test_a_long_lived_tcp_connection_shows_its_bytes_before_it_ends(self):
        a, b = self.pod("a"), self.pod("b")
        self.start("a")
        self.start("b")
        server = b.spawn([meshlib.PYTHON, "-u", "-c", ECHO_SERVER, "5432"], "echo-server")
        b.wait_listen(5432, proc=server)
        client = a.spawn([meshlib.PYTHON, "-u", "-c", HOLDING_CLIENT, b.ip4, "5432", "7000", "30"], "holding-client")
        self.wait_line(client, "ECHOED 7000", timeout=10)
        tcp = dict(reporter="destination", request_protocol="tcp", source_principal=pki.spiffe_id("a"))

        def reported():
            m = self.metrics("b")
            got = (self.metric("b", "istio_tcp_received_bytes_total", samples=m, **tcp),
                   self.metric("b", "istio_tcp_sent_bytes_total", samples=m, **tcp))
            return got if got == (7000, 7000) else None
        # Reported within the 5 s interval (and a scrape's slack), while the connection is open.
        self.assertIsNotNone(wait_until(reported, timeout=9, interval=0.5), "b never reported the open connection's bytes")
        self.assertTrue(client.alive(), "the connection must still be open")
        self.assertEqual(self.metric("b", "istio_tcp_connections_closed_total", **tcp), 0)
        self.assertEqual(self.metric("b", "istio_tcp_connections_opened_total", **tcp), 1)
        client.send_signal(signal.SIGTERM)
        client.wait(5)

        def closed():
            m = self.metrics("b")
            return m if self.metric("b", "istio_tcp_connections_closed_total", samples=m, **tcp) == 1 else None
        m = wait_until(closed, timeout=5)
        self.assertIsNotNone(m, "the close was never counted")
        self.assertEqual(self.metric("b", "istio_tcp_received_bytes_total", samples=m, **tcp), 7000, "no byte counted twice")
        self.assertEqual(self.metric("b", "weft_tcp_sent_bytes_total", samples=m, direction="inbound"), 7000)

    # -- 3. readiness while the certificate is missing ---------------------------------------------

    def test_readiness_is_503_while_the_certificate_is_missing_and_weft_wait_holds_until_it_arrives(self):
        a, b = self.pod("a"), self.pod("b")
        self.http_server(b, HTTP_PORT)
        self.start("a")
        later = os.path.join(self.ca.base, "late-b-%d" % time.monotonic_ns())
        os.makedirs(later)
        os.chmod(later, 0o755)
        os.chown(later, meshlib.PROXY_UID, meshlib.PROXY_GID)
        proxy = self.start("b", creds=pki.Credentials(later))
        status, body = self.wait_health("b", 503, timeout=5)
        self.assertIn("waiting for the workload certificate", body)
        self.assertIn(os.path.join(later, "cert-chain.pem"), body)
        waiter = b.spawn([meshlib.weft_bin(), "wait", "--timeout", "30s"], "wait")
        time.sleep(1.0)
        self.assertTrue(waiter.alive(), "weft wait returned while the certificate was missing")
        self.assertEqual(self.admin(b, "GET", "/ready")[0], 503)
        self.ca.issue("b", out=later)
        self.assertEqual(waiter.wait(15), 0, waiter.log_text())
        self.wait_health("b", 200, timeout=5)
        proxy.wait_for_log(r'msg="credentials loaded"', timeout=5)
        codes, res = self.curl_codes(a, ["http://%s:%d/hello.txt" % (b.ip4, HTTP_PORT)])
        self.assertEqual(codes, [200], res.stderr)

    # -- drain ---------------------------------------------------------------------------------------

    def test_drain_keeps_serving_with_connection_close_then_exits_when_idle(self):
        a, b = self.pod("a"), self.pod("b")
        self.backend(b)
        self.backend(a)
        self.start("a")
        proxy = self.start("b", extra_spec=DRAIN % ("20s", "2s"))
        # A keep-alive connection straight to b's inbound side (from a's pod, through a's sidecar).
        url = "http://%s:%d/hello.txt" % (b.ip4, HTTP_PORT)
        res = a.run(["curl", "-sS", "--noproxy", "*", "--max-time", "5", "-D", "-", "-o", "/dev/null", url])
        self.assertNotRegex(res.stdout, r"(?im)^connection: close\r?$", "before the drain: keep-alive")
        code, body = self.admin(b, "POST", "/drain")
        self.assertEqual((code, body), (200, "draining\n"))
        started = time.monotonic()
        status, reason = self.wait_health("b", 503, timeout=2)
        self.assertIn("draining", reason)
        # Inbound still answers during drainDuration, each response saying Connection: close.
        res = a.run(["curl", "-sS", "--noproxy", "*", "--max-time", "5", "-D", "-", "-o", "/dev/null", url])
        self.assertIn("200", res.stdout.splitlines()[0] if res.stdout else "", res.stderr)
        self.assertRegex(res.stdout, r"(?im)^connection: close\r?$")
        # Outbound from b keeps working (the application may need it to shut down).
        codes, res = self.curl_codes(b, ["http://%s:%d/hello.txt" % (a.ip4, HTTP_PORT)])
        self.assertEqual(codes, [200], res.stderr)
        rc = proxy.wait(10)
        elapsed = time.monotonic() - started
        proxy.expected_dead = True
        self.assertEqual(rc, 0, proxy.tail())
        self.assertGreaterEqual(elapsed, 1.8, "the inbound listener must stay for drainDuration (2s)")
        self.assertLess(elapsed, 8, "exits once idle after drainDuration, long before the 20s timeout")
        text = proxy.log_text()
        self.assertIn('msg=draining reason="POST /drain"', text)
        self.assertIn("worker stopped accepting inbound", text)
        self.assertNotIn("drain ended", text, "no connection should have been left to reset")

    def test_sigterm_drain_closes_idle_keep_alive_connections_after_the_drain_duration(self):
        a, b = self.pod("a"), self.pod("b")
        self.backend(b)
        self.start("a")
        proxy = self.start("b", extra_spec=DRAIN % ("20s", "1s"))
        # An idle keep-alive client connection from a: after drainDuration b closes it.
        client = a.spawn([meshlib.PYTHON, "-u", "-c", IDLE_KEEPALIVE_CLIENT, b.ip4, str(HTTP_PORT)], "idle-client")
        self.wait_line(client, "FIRST 200", timeout=10)
        time.sleep(1.0)
        self.assertNotIn("CLOSED", client.log_text(), "a keep-alive connection stays open until the drain")
        signalled = time.monotonic()
        proxy.send_signal(signal.SIGTERM)
        self.assertEqual(proxy.wait(10), 0, proxy.tail())
        proxy.expected_dead = True
        self.wait_line(client, "CLOSED", timeout=5)
        self.assertGreaterEqual(time.monotonic() - signalled, 0.9, "closed only after drainDuration (1s)")
        self.assertNotIn("drain ended", proxy.log_text(), "closed as idle, not reset by the drain timeout")

    # -- Jobs: weft wait -- COMMAND and /quitquitquit -----------------------------------------------

    def test_weft_wait_runs_the_job_and_tells_the_proxy_to_exit_with_it(self):
        a = self.pod("a")
        proxy = self.start("a", extra_spec=DRAIN % ("30s", "30s"))
        res = a.run([meshlib.weft_bin(), "wait", "--timeout", "10s", "--", "sh", "-c", "echo job-ran; exit 3"], timeout=20)
        self.assertEqual(res.returncode, 3, res.stdout + res.stderr)
        self.assertIn("job-ran", res.stdout)
        self.assertIn("the proxy was told to exit", res.stdout)
        # /quitquitquit does not wait out the 30s drain.
        self.assertEqual(proxy.wait(5), 0, proxy.tail())
        proxy.expected_dead = True
        self.assertIn('msg=quitting reason="POST /quitquitquit"', proxy.log_text())
        code, _ = self.admin(a, "POST", "/quitquitquit")
        self.assertEqual(code, 0, "nothing listens once the proxy is gone")
        res = a.run([meshlib.weft_bin(), "wait", "--timeout", "1s", "--", "true"], timeout=10)
        self.assertEqual(res.returncode, 1, "no proxy: the command must not run")

    def test_weft_wait_passes_sigterm_on_to_the_job(self):
        a = self.pod("a")
        proxy = self.start("a", extra_spec=DRAIN % ("30s", "30s"))
        job = a.spawn([meshlib.weft_bin(), "wait", "--timeout", "10s", "--", "sh", "-c",
                       'trap "echo job-got-term; exit 7" TERM; echo job-started; while :; do sleep 0.1; done'], "job")
        job.wait_for_log("job-started", timeout=15)
        job.send_signal(signal.SIGTERM)
        self.assertEqual(job.wait(10), 7, "the job's own status after its TERM trap: " + job.tail())
        self.assertIn("job-got-term", job.log_text())
        self.assertIn("the proxy was told to exit", job.log_text())
        self.assertEqual(proxy.wait(5), 0, proxy.tail())
        proxy.expected_dead = True

    def test_weft_drain_waits_until_the_proxy_has_drained_and_exited(self):
        a = self.pod("a")
        proxy = self.start("a", extra_spec=DRAIN % ("20s", "1s"))
        started = time.monotonic()
        res = a.run([meshlib.weft_bin(), "drain", "--wait", "--timeout", "15s"], timeout=30)
        elapsed = time.monotonic() - started
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("weft drain: draining", res.stdout)
        self.assertIn("the proxy has exited", res.stdout)
        self.assertGreaterEqual(elapsed, 0.9, "the listeners stay for drainDuration (1s)")
        self.assertEqual(proxy.wait(5), 0, proxy.tail())
        proxy.expected_dead = True
        res = a.run([meshlib.weft_bin(), "drain"], timeout=10)
        self.assertEqual(res.returncode, 1, "no proxy left to drain")
        self.assertIn("running in this network namespace", res.stderr)
        self.assertEqual(a.run([meshlib.weft_bin(), "drain", "--timeout", "soon"]).returncode, 2)

    def test_drain_and_quit_are_post_only(self):
        a = self.pod("a")
        self.start("a")
        self.assertEqual(self.admin(a, "GET", "/drain")[0], 405)
        self.assertEqual(self.admin(a, "GET", "/quitquitquit")[0], 405)
        self.assertEqual(self.admin(a, "GET", "/ready"), (200, "ready\n"))


SERVICE_CIDR = "10.96.0.0/16"
WEB_IP = "10.96.0.30"


class RollingRestart(MTLSTestCase):
    """The sequence a kubelet runs, in network namespaces: `weft init`, the sidecar, `weft wait`,
    the application; and for a rolling update of the server: the new pod comes up and is added
    to the Service's endpoints, then the old one is removed and its sidecar and application get
    SIGTERM (the application after a 3 s preStop sleep, as deployments are advised to do)."""

    PODS = ("client", "b1", "b2")
    MESHED = ("client", "b1", "b2")
    START_PROXIES = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # connect() to the cluster IP must pass routing to meet the redirect to the sidecar.
        cls.mesh.pod("client").run(["ip", "route", "add", SERVICE_CIDR, "dev", "eth0"], check=True)

    def slices(self, *pods):
        endpoints = "\n".join("  - addresses: [%s]\n    conditions: {ready: true}" % self.pod(p).ip4 for p in pods)
        return ("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
                "metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}\n"
                "addressType: IPv4\nports: [{name: http, port: %d, protocol: TCP}]\nendpoints:\n%s\n" % (HTTP_PORT, endpoints))

    def rewrite(self, directory, filename, text):
        tmp = os.path.join(directory, ".%s.tmp" % filename)
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, os.path.join(directory, filename))

    def start_server_pod(self, name):
        """Sidecar, `weft wait`, then the application: the order of a pod with a native sidecar."""
        pod = self.pod(name)
        proxy = self.restart_proxy(name, self.sidecar_yaml(name, extra_spec=DRAIN % ("15s", "2s")))
        res = pod.run([meshlib.weft_bin(), "wait", "--timeout", "20s"], timeout=30)
        self.assertEqual(res.returncode, 0, res.stderr)
        app = pod.spawn([meshlib.PYTHON, "-u", os.path.join(meshlib.APPS, "trafficapps.py"), "backend", "--port", str(HTTP_PORT),
                         "--server-name", name, "--log", self.mesh.log_path("%s-backend.jsonl" % name)], "backend")
        pod.wait_listen(HTTP_PORT, proc=app)
        return proxy, app

    def test_a_rolling_restart_under_load_fails_no_request(self):
        client = self.pod("client")
        old_proxy, old_app = self.start_server_pod("b1")
        service = ("apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\n"
                   "spec:\n  clusterIP: %s\n  ports: [{name: http, port: %d, targetPort: %d}]\n" % (WEB_IP, HTTP_PORT, HTTP_PORT))
        proxy = self.restart_proxy("client", config_files={
            "00-sidecar.yaml": self.sidecar_yaml("client"), "10-service.yaml": service, "20-slices.yaml": self.slices("b1")})
        config_dir = proxy.config_path
        load_out = self.mesh.log_path("client-load.jsonl")
        load = client.spawn([meshlib.PYTHON, "-u", os.path.join(meshlib.APPS, "trafficapps.py"), "load-client", "--host", WEB_IP,
                             "--port", str(HTTP_PORT), "--concurrency", "4", "--duration", "10", "--out", load_out,
                             "--timeout", "5"], "load")
        time.sleep(2.0)
        # The new pod starts and becomes an endpoint; then the old one leaves the endpoints and is
        # told to stop.
        self.start_server_pod("b2")
        self.rewrite(config_dir, "20-slices.yaml", self.slices("b1", "b2"))
        time.sleep(1.0)
        self.rewrite(config_dir, "20-slices.yaml", self.slices("b2"))
        terminated = time.monotonic()
        old_proxy.send_signal(signal.SIGTERM)
        time.sleep(3.0)  # the application's preStop sleep
        old_app.send_signal(signal.SIGTERM)
        rc = old_proxy.wait(15)
        old_proxy.expected_dead = True
        self.assertEqual(rc, 0, old_proxy.tail())
        self.assertLess(time.monotonic() - terminated, 12, "the old sidecar must exit once drained, before the 15s timeout")
        result = self.proc_result(load, timeout=30)
        self.assertEqual(result["errors"], 0, result)
        self.assertEqual(set(result["status"]), {"200"}, result)
        self.assertGreater(result["served_by"].get("b1", 0), 0, result)
        self.assertGreater(result["served_by"].get("b2", 0), 0, result)
        self.assertGreater(result["requests"], 200, result)
        with open(load_out) as f:
            records = [json.loads(line) for line in f if line.strip()]
        late = [r for r in records if r["t0"] > terminated + 3.5]
        self.assertTrue(late, "requests after the old pod stopped")
        self.assertEqual({r["served_by"] for r in late}, {"b2"}, "after the old pod stopped everything goes to the new one")
        self.assertNotIn("drain ended", old_proxy.log_text(), "nothing was left to reset at the drain timeout")


class SlowMeshPeer(MTLSTestCase):
    """A sidecar busy with a burst of new connections can send its ClientHello later than the
    detection timeout (300 ms). From an address in the mesh the inbound sidecar waits for it as
    long as a handshake may take; from anywhere else a silent client is relayed as opaque."""

    PODS = ("a", "b", "c")
    MESHED = ("a", "b")

    def test_a_late_client_hello_from_the_mesh_still_gets_mtls_and_a_silent_outsider_is_relayed(self):
        a, b, c = self.pod("a"), self.pod("b"), self.pod("c")
        _, token = self.http_server(b, HTTP_PORT)
        creds = self.creds["a"]
        # As uid 1337 in pod a: a's own interception lets it through, as it does a's sidecar.
        res = a.run(meshlib._setpriv_prefix() + [
            meshlib.PYTHON, "-u", os.path.join(meshlib.APPS, "tlsapps.py"), "tls-client", "--host", b.ip4, "--port", str(HTTP_PORT),
            "--cert", creds.chain, "--key", creds.key, "--ca", creds.root, "--delay", "1.0"], timeout=30)
        out = self.parse_result(res.stdout, "tls-client from a (%s)" % res.stderr.strip()[-500:])
        self.assertEqual(out["handshake"], "ok", out)
        self.assertIn(token, out["data"], out)
        rec = self.proxy("b").wait_records(dir="inbound", detected="mtls")[-1]
        self.assertMTLSRecord(rec, pki.spiffe_id("a"))

        # Pod c is not in the mesh: after the detection timeout its silent connection goes to
        # the application as it is, so the late handshake meets a plaintext HTTP server.
        out = self.tls_app(c, "tls-client", "--host", b.ip4, "--port", HTTP_PORT, "--cert", creds.chain, "--key", creds.key,
                           "--ca", creds.root, "--delay", "1.0")
        self.assertNotEqual(out["handshake"], "ok", out)
        self.assertTrue(self.proxy("b").wait_records(dir="inbound", detected="silent"), "c's connection was relayed as silent")


ECHO_SERVER = r"""
import socket, sys, threading
srv = socket.socket(socket.AF_INET6)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("::", int(sys.argv[1])))
srv.listen(16)
def serve(c):
    while True:
        data = c.recv(65536)
        if not data:
            break
        c.sendall(data)
    c.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

HOLDING_CLIENT = r"""
import socket, sys, time
host, port, size, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s = socket.create_connection((host, port), timeout=30)
s.sendall(b"x" * size)
got = 0
while got < size:
    got += len(s.recv(65536))
print("ECHOED", got, flush=True)
time.sleep(hold)
"""

IDLE_KEEPALIVE_CLIENT = r"""
import socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port), timeout=30)
s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: b\r\n\r\n")
data = b""
while b"\r\n\r\n" not in data:
    data += s.recv(65536)
print("FIRST", data.split(b" ")[1].decode(), flush=True)
started = time.monotonic()
while True:
    chunk = s.recv(65536)
    if not chunk:
        print("CLOSED after %.2fs idle" % (time.monotonic() - started), flush=True)
        break
"""


if __name__ == "__main__":
    unittest.main()
