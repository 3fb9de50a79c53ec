"""Helpers for the HTTP traffic-management scenarios (issue 5): the `reviews` topology, its
Service/EndpointSlice/HTTPRoute/DestinationRule documents, the backends of apps/trafficapps.py,
the client sidecar's admin API (127.0.0.1:15000) and metrics (15090), and load loops.

    class MyScenarios(TrafficTestCase):
        def test_x(self):
            self.start_client(self.config_files())          # weft proxy --config DIR in pod client
            self.require_routing()                          # fails at once if the sidecar does not route
            out = self.curl_many(REVIEWS_URL, 100)          # one curl process, one connection
            load = self.start_load(duration=5)              # apps/trafficapps.py load-client
            self.admin("POST", "/routes/default/reviews/weights", '{"weights": {...}}')

The topology: pod `client` is meshed (`weft init`, a route for 10.96.0.0/16 on eth0 so that
connect() reaches the nftables redirect, `weft proxy --config DIR`); pods `v1`, `v2`, `v3` run the
backend (port 8080, no sidecar); pod `ext` runs no sidecar and backs no Service (a destination
outside the registry, and the place the backends are checked from without any sidecar). The
Service `reviews` (10.96.0.10:9080) has no pod behind its cluster IP: only the client's sidecar can
answer it. `reviews-vN` (10.96.0.1N:8080) each have an EndpointSlice with pod vN; `reviews-all`
(10.96.0.20:8080, only when asked for) has v1 and v2.
"""

import collections
import json
import os
import re
import signal
import time

import mesh as meshlib
from mesh import HarnessError
from mtlscase import parse_prometheus
from weftcase import MeshTestCase, wait_until

APPS_TRAFFIC = os.path.join(meshlib.APPS, "trafficapps.py")

SERVICE_CIDR = "10.96.0.0/16"
NAMESPACE = "default"
REVIEWS_IP, REVIEWS_PORT = "10.96.0.10", 9080
BACKEND_PORT = 8080
VERSIONS = ("v1", "v2", "v3")
SERVICES = {
    "reviews": (REVIEWS_IP, REVIEWS_PORT),
    "reviews-v1": ("10.96.0.11", BACKEND_PORT),
    "reviews-v2": ("10.96.0.12", BACKEND_PORT),
    "reviews-v3": ("10.96.0.13", BACKEND_PORT),
    "reviews-all": ("10.96.0.20", BACKEND_PORT),
}
REVIEWS_URL = "http://%s:%d/" % (REVIEWS_IP, REVIEWS_PORT)
ADMIN = "http://127.0.0.1:15000"
FEATURE = "HTTP traffic management (issue 5)"

SIDECAR_FILE = "00-sidecar.yaml"
SERVICES_FILE = "10-services.yaml"
SLICES_FILE = "20-endpointslices.yaml"
ROUTE_FILE = "30-httproute.yaml"
RULES_FILE = "40-destinationrules.yaml"
EMPTY_FILE = "# no documents of this kind in this test\n"

OUTLIER = {"consecutiveGatewayErrors": 2, "consecutive5xxErrors": 2, "interval": "1s",
           "baseEjectionTime": "3s", "maxEjectionPercent": 100}
RETRY = {"attempts": 2, "backoff": "10ms", "codes": [502, 503, 504]}


# ---------------------------------------------------------------------------------------------
# YAML documents.

def flow(value):
    """A YAML flow scalar/collection for `value` (JSON for strings, so "true" stays a string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{" + ", ".join("%s: %s" % (k, flow(v)) for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    raise TypeError(value)


def sidecar_yaml(outbound_policy=None, extra_spec=""):
    """The client's Sidecar; `outbound_policy` sets spec.outboundTrafficPolicy.mode."""
    lines = ["apiVersion: weft.io/v1", "kind: Sidecar",
             "metadata: {name: client, namespace: default, labels: {app: client}}", "spec:", "  logLevel: info"]
    if outbound_policy:
        lines.append("  outboundTrafficPolicy: {mode: %s}" % outbound_policy)
    if extra_spec:
        lines.append(extra_spec.rstrip("\n"))
    return "\n".join(lines) + "\n"


def service_yaml(name):
    ip, port = SERVICES[name]
    return ("apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: %s}\n"
            "spec:\n  type: ClusterIP\n  clusterIP: %s\n"
            "  ports: [{name: http, port: %d, targetPort: %d, protocol: TCP, appProtocol: http}]\n"
            % (name, NAMESPACE, ip, port, port))


def slice_yaml(service, addresses, port=BACKEND_PORT, ready=True):
    """An EndpointSlice of `service` listing `addresses` (IPv4) on `port`."""
    eps = "\n".join("  - addresses: [%s]\n    conditions: {ready: %s}" % (flow(a), flow(ready)) for a in addresses)
    return ("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
            "metadata: {name: %s-slice, namespace: %s, labels: {kubernetes.io/service-name: %s}}\n"
            "addressType: IPv4\nports: [{name: http, port: %d, protocol: TCP}]\nendpoints:\n%s\n"
            % (service, NAMESPACE, service, port, eps))


def backend_ref(service, weight=None):
    ref = {"name": service, "port": SERVICES.get(service, (None, BACKEND_PORT))[1]}
    if weight is not None:
        ref["weight"] = weight
    return ref


def rule(backends, header=None, retry=None, timeout=None):
    """One HTTPRoute rule: `backends` [(service, weight)], an exact header match (name, value)."""
    r = {}
    if header:
        r["matches"] = [{"headers": [{"name": header[0], "value": header[1]}]}]
    r["backendRefs"] = [backend_ref(s, w) for s, w in backends]
    if retry:
        r["retry"] = retry
    if timeout:
        r["timeouts"] = {"request": timeout}
    return r


def canary_rules(v1=80, v2=20, retry=None, timeout=None):
    """The scenario's route: x-canary: "true" -> reviews-v3; the rest v1/v2 by weight."""
    return [rule([("reviews-v3", None)], header=("x-canary", "true")),
            rule([("reviews-v1", v1), ("reviews-v2", v2)], retry=retry, timeout=timeout)]


def route_yaml(rules, name="reviews", parent="reviews"):
    lines = ["apiVersion: gateway.networking.k8s.io/v1", "kind: HTTPRoute",
             "metadata: {name: %s, namespace: %s}" % (name, NAMESPACE), "spec:",
             "  parentRefs: [{group: \"\", kind: Service, name: %s, port: %d}]" % (parent, SERVICES[parent][1]),
             "  rules:"]
    for r in rules:
        first = True
        for key, value in r.items():
            lines.append("    %s %s: %s" % ("-" if first else " ", key, flow(value)))
            first = False
    return "\n".join(lines) + "\n"


def destination_rule_yaml(service, outlier=None, load_balancer=None):
    policy = {}
    if load_balancer:
        policy["loadBalancer"] = load_balancer
    if outlier:
        policy["outlierDetection"] = outlier
    return ("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: %s, namespace: %s}\n"
            "spec:\n  host: %s.%s.svc.cluster.local\n  trafficPolicy: %s\n"
            % (service, NAMESPACE, service, NAMESPACE, flow(policy)))


def join(*docs):
    return "---\n".join(d for d in docs if d)


def documents_of(files):
    """The documents of `files` ({filename: yaml}) as one multi-document YAML, in file name
    order, leaving out the files with none (a body for PUT /config)."""
    return join(*[files[name] for name in sorted(files) if files[name] != EMPTY_FILE])


def route_weights(documents, name="reviews"):
    """{backend: weight} of the weighted rule (the one naming reviews-v1 or reviews-v2) of
    HTTPRoute `name` among a config_dump's documents; None if there is no such route."""
    for doc in documents:
        if doc.get("kind") == "HTTPRoute" and (doc.get("metadata") or {}).get("name") == name:
            out = {}
            for r in (doc.get("spec") or {}).get("rules") or []:
                for ref in r.get("backendRefs") or []:
                    if ref.get("name") in ("reviews-v1", "reviews-v2"):
                        out[ref["name"]] = ref.get("weight", 1)
            return out
    return None


# ---------------------------------------------------------------------------------------------
# Processes.

class TrafficBackend:
    """A running apps/trafficapps.py backend and its request log."""

    def __init__(self, pod, name, proc, log_path, delay):
        self.pod, self.name, self.proc, self.log_path, self.delay = pod, name, proc, log_path, delay

    def events(self):
        try:
            with open(self.log_path) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass  # the line being written
        return out

    def requests(self):
        return [r for r in self.events() if r.get("ev") == "request"]

    def connections(self):
        """The backend's `open` and `close` events (a close carries the bytes left unframed)."""
        return [r for r in self.events() if r.get("ev") in ("open", "close")]

    def attempt_counts(self):
        """The x-weft-attempt-count values of every request received ('' when absent)."""
        out = []
        for r in self.requests():
            values = [v for n, v in r["headers"] if n.lower() == "x-weft-attempt-count"]
            out.append(values[0] if values else "")
        return out

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


class LoadRun:
    """A background load-client in the client pod; its per-request records are in `out`."""

    def __init__(self, proc, out):
        self.proc, self.out = proc, out

    def records(self):
        try:
            with open(self.out) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        recs = []
        for line in lines:
            try:
                recs.append(json.loads(line))
            except ValueError:
                pass  # a line being written
        return recs

    def wait_count(self, n, timeout):
        return wait_until(lambda: len(self.records()) >= n, timeout=timeout, interval=0.05)

    def stop(self):
        """SIGTERM (the client finishes the requests in flight), waits; returns RESULT or None."""
        if self.proc.alive():
            self.proc.send_signal(signal.SIGTERM)
        if self.proc.wait(20) is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
            return None
        for line in reversed(self.proc.log_lines()):
            if line.startswith("RESULT "):
                return json.loads(line[len("RESULT "):])
        return None


def summarize(records):
    """'n requests: {status: n}, {served_by: n}; first failure: ...' for messages."""
    statuses, served = {}, {}
    for r in records:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        served[r["served_by"] or "-"] = served.get(r["served_by"] or "-", 0) + 1
    bad = [r for r in records if r["status"] != 200]
    first = ""
    if bad:
        r = bad[0]
        first = "; first failure: status %s error %r reason %r body %r" % (r["status"], r["error"], r["reason"], r["body"][:100])
    return "%d requests: status %s, served by %s%s" % (len(records), statuses, served, first)


# ---------------------------------------------------------------------------------------------
# The test case.

class TrafficTestCase(MeshTestCase):
    PODS = ("client", "v1", "v2", "v3", "ext")
    INIT_PODS = ("client",)
    START_PROXIES = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The Service CIDR is routed on eth0 in the client pod only, so connect() to a cluster
        # IP passes routing and meets the nftables redirect to the sidecar.
        cls.mesh.pod("client").run(["ip", "route", "add", SERVICE_CIDR, "dev", "eth0"], check=True)

    def setUp(self):
        super().setUp()
        self.backends = {}
        self.start_backends({v: 0.0 for v in VERSIONS})

    # -- backends --------------------------------------------------------------------------------

    def start_backends(self, delays):
        """Starts (or restarts) the backend in each pod of `delays` {pod: seconds of delay}."""
        started = []
        for name, delay in delays.items():
            old = self.backends.get(name)
            if old is not None and old.proc.alive():
                old.kill()
            pod = self.pod(name)
            n = sum(1 for p in pod.procs if p.name.startswith("backend"))
            log_path = self.mesh.log_path("%s-backend-%d.jsonl" % (name, n))
            proc = pod.spawn([meshlib.PYTHON, "-u", APPS_TRAFFIC, "backend", "--port", str(BACKEND_PORT),
                              "--server-name", name, "--log", log_path, "--delay", str(delay)], "backend-%d" % n)
            self.backends[name] = TrafficBackend(pod, name, proc, log_path, delay)
            started.append((pod, proc))
        for pod, proc in started:
            pod.wait_listen(BACKEND_PORT, proc=proc)

    def direct_get(self, from_pod, to_pod, path="/", timeout=5):
        """GET http://<to_pod>:8080<path> from `from_pod`; (status, x-served-by, body, elapsed)."""
        res = from_pod.run(["curl", "-sS", "--noproxy", "*", "--max-time", str(timeout), "-D", "-",
                            "http://%s:%d%s" % (to_pod.ip4, BACKEND_PORT, path)], timeout=timeout + 5)
        status, served, body = parse_curl_response(res.stdout)
        return status, served, body, res.elapsed

    # -- the client sidecar --------------------------------------------------------------------------

    def config_files(self, rules=None, sidecar=None, destination_rules=(), with_all=False, route=True):
        """{filename: yaml} for `weft proxy --config DIR`: the Sidecar, the Services, their
        EndpointSlices, the HTTPRoute `reviews` (default: canary_rules()) and DestinationRules."""
        files = {SIDECAR_FILE: sidecar if sidecar is not None else sidecar_yaml()}
        files.update(self.traffic_files(rules=rules, destination_rules=destination_rules, with_all=with_all, route=route))
        return files

    def traffic_files(self, rules=None, destination_rules=(), with_all=False, route=True):
        names = ["reviews", "reviews-v1", "reviews-v2", "reviews-v3"] + (["reviews-all"] if with_all else [])
        files = {SERVICES_FILE: join(*[service_yaml(n) for n in names])}
        # Every file is written, with no documents if need be: the harness names a pod's config
        # directory by the number of proxies the test started, so a later test gets the same
        # directory back, with whatever an earlier test left in it.
        files[ROUTE_FILE] = files[RULES_FILE] = EMPTY_FILE
        slices = [slice_yaml("reviews-%s" % v, [self.pod(v).ip4]) for v in VERSIONS]
        if with_all:
            slices.append(slice_yaml("reviews-all", [self.pod("v1").ip4, self.pod("v2").ip4]))
        files[SLICES_FILE] = join(*slices)
        if route:
            files[ROUTE_FILE] = route_yaml(rules if rules is not None else canary_rules())
        if destination_rules:
            files[RULES_FILE] = join(*destination_rules)
        return files

    def start_client(self, files):
        """`weft proxy --config DIR` in pod client with `files`; a proxy that exits at start (a
        configuration it refuses) fails the test with its log."""
        try:
            proxy = self.restart_proxy("client", config_files=files)
        except HarnessError as e:
            self.fail("weft proxy in pod client did not start with the traffic configuration "
                      "(files %s):\n%s" % (", ".join(sorted(files)), e))
        self.config_dir = proxy.config_path
        return proxy

    def check_config(self, files):
        """`weft check --config DIR` (run inside the client pod) on `files`; (exit code, output)."""
        d = os.path.join(meshlib.shared_dir(), "check-%s-%d" % (self._testMethodName, time.monotonic_ns()))
        os.makedirs(d)
        for name, text in files.items():
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        res = self.pod("client").run([meshlib.weft_bin(), "check", "--config", d], timeout=30)
        return res.returncode, res.stdout + res.stderr

    def rewrite_config_file(self, filename, text):
        """Replaces `filename` in the client's config directory as an editor or kubelet does: a
        new file under a temporary name in the same directory, renamed over the old one."""
        tmp = os.path.join(self.config_dir, ".%s.tmp" % filename)
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, os.path.join(self.config_dir, filename))
        with open(self.mesh.log_path("client-rewritten-%d-%s" % (time.monotonic_ns(), filename)), "w") as f:
            f.write(text)

    def client_proxy(self):
        return self.proxy("client")

    def wait_event(self, msg, start, timeout=3.0, **fields):
        """Waits for a logfmt line of the client proxy (from line index `start` on) with
        msg=`msg` and `fields`; returns (event, monotonic time it was seen) or fails."""
        proxy = self.client_proxy()
        found = [None]

        def look():
            for line in proxy.log_lines()[start:]:
                if line.startswith("{"):
                    continue
                ev = meshlib.parse_logfmt(line)
                if ev.get("msg") == msg and all(ev.get(k) == str(v) for k, v in fields.items()):
                    found[0] = ev
                    return True
            return False
        if not wait_until(look, timeout=timeout, interval=0.02):
            self.fail("the client proxy logged no msg=%r with %s within %ss (%s); log tail:\n%s"
                      % (msg, fields, timeout, FEATURE, proxy.tail(15)))
        return found[0], time.monotonic()

    # -- requests ---------------------------------------------------------------------------------

    def curl_many(self, url, count, headers=(), timeout=45):
        """`count` GETs of `url` by ONE unmodified curl process (URL globbing, so one keep-alive
        connection); [(status, x-served-by, x-weft-reason)] in order."""
        args = ["curl", "-sS", "--noproxy", "*", "--max-time", "5",
                "-w", "\\nRESULT %{http_code} [%header{x-served-by}] %header{x-weft-reason}\\n"]
        for h in headers:
            args += ["-H", h]
        glob_url = url.rstrip("/") + "/req/[1-%d]" % count
        res = self.pod("client").run(args + [glob_url], timeout=timeout)
        out = []
        for line in (res.stdout or "").splitlines():
            m = re.match(r"^RESULT (\d+) \[([^\]]*)\] ?(.*)$", line)
            if m:
                out.append((int(m.group(1)), m.group(2), m.group(3)))
        if res.returncode is None:
            slow = [i + 1 for i, r in enumerate(out) if r[0] == 0]
            self.fail("curl with %d requests did not finish within %ss: %d done, statuses %s, %d without a response "
                      "(5 s each; the first: request %s); stderr: %s"
                      % (count, timeout, len(out), dict(collections.Counter(r[0] for r in out)), len(slow),
                         slow[:1], (res.stderr or "")[-500:]))
        if len(out) != count:
            self.fail("curl printed %d results for %d requests (exit %s); stderr: %s"
                      % (len(out), count, res.returncode, res.stderr[-1000:]))
        return out

    def get(self, url, headers=(), timeout=5):
        """One GET by curl in the client pod: (status, x-served-by, x-weft-reason, body, elapsed)."""
        args = ["curl", "-sS", "-g", "--noproxy", "*", "--max-time", str(timeout), "-D", "-"]
        for h in headers:
            args += ["-H", h]
        res = self.pod("client").run(args + [url], timeout=timeout + 5)
        status, fields, body = parse_curl_response(res.stdout, all_fields=True)
        return status, fields.get("x-served-by", ""), fields.get("x-weft-reason", ""), body, res.elapsed

    def require_routing(self, url=REVIEWS_URL, expect=("v1", "v2")):
        """One request to a Service's cluster IP, which nothing but the sidecar can answer; fails
        the test at once, naming the missing feature, when no backend answers."""
        status, served, reason, body, elapsed = self.get(url, timeout=4)
        if status != 200 or served not in expect:
            self.fail("the client sidecar does not route %s to the Service's backends (%s): got status %s, "
                      "x-served-by %r, x-weft-reason %r, body %r after %.1f s"
                      % (url, FEATURE, status or "none (no response)", served, reason, body[:200], elapsed))

    def start_load(self, duration=0, count=0, concurrency=1, headers=(), url_path="/load", host=REVIEWS_IP,
                   port=REVIEWS_PORT, timeout=5):
        n = sum(1 for p in self.pod("client").procs if p.name.startswith("load"))
        out = self.mesh.log_path("client-load-%d.jsonl" % n)
        args = [meshlib.PYTHON, "-u", APPS_TRAFFIC, "load-client", "--host", host, "--port", str(port),
                "--path", url_path, "--concurrency", str(concurrency), "--out", out, "--timeout", str(timeout)]
        if duration:
            args += ["--duration", str(duration)]
        if count:
            args += ["--count", str(count)]
        for h in headers:
            args += ["--header", h]
        return LoadRun(self.pod("client").spawn(args, "load-%d" % n), out)

    # -- admin API and metrics --------------------------------------------------------------------------

    def admin(self, method, path, body=None, timeout=5):
        """`method` 127.0.0.1:15000`path` from inside the client pod (lo: never intercepted);
        (status, body), status 0 when nothing answered."""
        args = ["curl", "-sS", "--noproxy", "*", "--max-time", str(timeout), "-X", method, "-w", "\n%{http_code}"]
        if body is not None:
            args += ["--data-binary", "@-", "-H", "content-type: application/yaml" if not body.lstrip().startswith("{")
                     else "content-type: application/json"]
        res = self.pod("client").run(args + [ADMIN + path], timeout=timeout + 5, input=body)
        text, _, code = (res.stdout or "").rpartition("\n")
        try:
            return int(code), text
        except ValueError:
            return 0, (res.stdout or "") + (res.stderr or "")

    def admin_ok(self, method, path, body=None, want=200):
        status, text = self.admin(method, path, body)
        if status == 0:
            self.fail("the client sidecar's admin API does not answer %s %s on %s (%s): %s"
                      % (method, path, ADMIN, FEATURE, text.strip()[:300]))
        self.assertEqual(status, want, "%s %s: %s" % (method, path, text[:500]))
        return text

    def config_dump(self):
        text = self.admin_ok("GET", "/config_dump?format=json")
        try:
            dump = json.loads(text)
        except ValueError:
            self.fail("GET /config_dump?format=json is not JSON: %r" % text[:300])
        self.assertIn("version", dump, text[:300])
        self.assertIn("documents", dump, text[:300])
        return dump

    def endpoints(self):
        """GET /endpoints as [{service, endpoint, ready, ejected, ejections}]."""
        text = self.admin_ok("GET", "/endpoints")
        out = []
        for line in text.splitlines():
            m = re.match(r"^(\S+) (\S+)(.*)$", line.strip())
            if not m:
                continue
            rec = {"service": m.group(1), "endpoint": m.group(2)}
            rec.update(dict(kv.split("=", 1) for kv in m.group(3).split() if "=" in kv))
            out.append(rec)
        return out

    def metrics(self):
        res = self.pod("client").run(["curl", "-sS", "--noproxy", "*", "--max-time", "5", "-w", "\n%{http_code}",
                                      "http://127.0.0.1:15090/metrics"], timeout=10)
        text, _, code = res.stdout.rpartition("\n")
        if code != "200":
            raise HarnessError("metrics of the client: HTTP %s: %s" % (code, (text + res.stderr)[:300]))
        return parse_prometheus(text)

    def metric(self, metric, samples=None, **labels):
        samples = samples if samples is not None else self.metrics()
        return sum(v for (m, lbls), v in samples.items()
                   if m == metric and all(dict(lbls).get(k) == str(v2) for k, v2 in labels.items()))

    # -- assertions ---------------------------------------------------------------------------------

    def assertNoFailures(self, records, what=""):
        """Every load-client record is a 200 (the message summarizes instead of listing them)."""
        bad = [r for r in records if r["status"] != 200]
        if bad:
            self.fail("%d of %d requests failed%s: %s" % (len(bad), len(records), " (%s)" % what if what else "",
                                                          summarize(records)))

    def assertShare(self, counts, name, expected, tolerance, what=""):
        total = sum(counts.values())
        self.assertGreater(total, 0, "no requests counted %s" % what)
        share = counts.get(name, 0) / total
        self.assertLessEqual(abs(share - expected), tolerance,
                             "%s got %.1f%% of %d requests, expected %.0f%% ± %.0f points %s (counts %s)"
                             % (name, share * 100, total, expected * 100, tolerance * 100, what, counts))


def parse_curl_response(text, all_fields=False):
    """(status, x-served-by, body) of `curl -D -` output (the last head after 1xx); with
    all_fields, (status, {lowercase name: value}, body). Status 0 when there is no head."""
    # (pod.run reads text mode, which has turned CRLF into LF)
    text = text.replace("\r\n", "\n")
    status, fields, body = 0, {}, text
    rest = text
    while rest.startswith("HTTP/"):
        head, sep, rest = rest.partition("\n\n")
        lines = head.split("\n")
        try:
            status = int(lines[0].split()[1])
        except (IndexError, ValueError):
            status = 0
        fields = {}
        for line in lines[1:]:
            n, _, v = line.partition(":")
            fields[n.strip().lower()] = v.strip()
        body = rest
        if not sep:
            break
    if all_fields:
        return status, fields, body
    return status, fields.get("x-served-by", ""), body
