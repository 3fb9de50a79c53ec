"""unittest base class for the mTLS scenarios: a CA per mesh, a workload identity per meshed pod,
Sidecar configs with identity and mesh CIDRs, and the sidecars' health and metrics endpoints.

    class MyScenarios(MTLSTestCase):
        PODS = ("a", "b", "c")      # c: no `weft init`, no proxy (a pod without a sidecar)
        MESHED = ("a", "b")         # identity + proxy + mesh membership
        MTLS_MODE = "STRICT"        # a namespace-wide PeerAuthentication in every meshed pod

        def test_x(self):
            self.restart_proxy("b", self.sidecar_yaml("b", mode="PERMISSIVE"))
            self.health("b")                          # (200, "...")
            self.metric("b", "weft_tls_handshakes_total", direction="inbound", result="ok")

The Sidecar config of pod P names the files `weft ca issue` wrote for
spiffe://cluster.local/ns/default/sa/P, and lists every meshed pod's /32 and /128 as mesh CIDRs,
so a connection to a pod without a sidecar stays plaintext.
"""

import json
import os
import re

import mesh as meshlib
import pki
from mesh import HarnessError
from weftcase import MeshTestCase, wait_until

APPS_TLS = os.path.join(meshlib.APPS, "tlsapps.py")


def q(value):
    """A YAML scalar (JSON strings are valid YAML flow scalars)."""
    return json.dumps(value)


class MTLSTestCase(MeshTestCase):
    PODS = ("a", "b", "c")
    MESHED = ("a", "b")
    MTLS_MODE = None            # None: no PeerAuthentication (PERMISSIVE)
    TLS_SETTINGS = None         # e.g. {"handshakeTimeout": "2s"} for spec.tls
    CERT_TTL = "24h"

    @classmethod
    def setUpClass(cls):
        if cls.INIT_PODS is None:
            cls.INIT_PODS = cls.MESHED
        if cls.PROXY_PODS is None:
            cls.PROXY_PODS = cls.MESHED
        super().setUpClass()
        cls.ca = pki.MeshCA(cls.mesh)
        cls.creds = {name: cls.ca.issue(name, ttl=cls.CERT_TTL) for name in cls.MESHED}

    def proxy_config(self, pod):
        if pod.name in self.MESHED:
            return self.sidecar_yaml(pod.name)
        return super().proxy_config(pod)

    # -- configuration -----------------------------------------------------------------------------

    def mesh_cidrs(self, names=None):
        out = []
        for name in (names if names is not None else self.MESHED):
            pod = self.pod(name)
            out += ["%s/32" % pod.ip4, "%s/128" % pod.ip6]
        return out

    def sidecar_yaml(self, name, creds=None, cidrs=None, destinations=(), mode="default", port_modes=None,
                     tls=None, identity=True, extra_spec="", trust_domain=pki.TRUST_DOMAIN, peer_auth_extra=""):
        """The Sidecar document for pod `name` (metadata.labels app=<name>), plus PeerAuthentication
        documents: `mode` (STRICT/PERMISSIVE/DISABLE; "default": the class's MTLS_MODE; None: no
        document) namespace-wide, and `port_modes` {port: mode} in a policy selecting app=<name>.
        `destinations` are (address/len, port, spiffe id) entries; `creds` a pki.Credentials
        (default: the pod's own); identity=False leaves spec.identity out."""
        creds = creds or self.creds.get(name)
        cidrs = self.mesh_cidrs() if cidrs is None else cidrs
        tls = self.TLS_SETTINGS if tls is None else tls
        lines = ["apiVersion: weft.io/v1", "kind: Sidecar",
                 "metadata: {name: %s, namespace: default, labels: {app: %s}}" % (name, name), "spec:"]
        if identity and creds is not None:
            lines += ["  identity:",
                      "    certificateChain: %s" % q(creds.chain),
                      "    privateKey: %s" % q(creds.key),
                      "    trustBundle: %s" % q(creds.root),
                      "    trustDomain: %s" % q(trust_domain)]
        lines += ["  mesh:", "    cidrs: [%s]" % ", ".join(q(c) for c in cidrs)]
        if destinations:
            lines.append("    destinations:")
            for address, port, ident in destinations:
                entry = "{address: %s, " % q(address) + ("port: %d, " % port if port else "") + "identity: %s}" % q(ident)
                lines.append("      - " + entry)
        if tls:
            lines.append("  tls: {%s}" % ", ".join("%s: %s" % (k, v) for k, v in tls.items()))
        if extra_spec:
            lines.append(extra_spec.rstrip("\n"))
        docs = ["\n".join(lines) + "\n"]
        mode = self.MTLS_MODE if mode == "default" else mode
        if mode:
            docs.append("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
                        "metadata: {name: default, namespace: default}\n"
                        "spec:\n  mtls: {mode: %s}\n%s" % (mode, peer_auth_extra))
        if port_modes:
            ports = "\n".join("    %d: {mode: %s}" % (p, m) for p, m in sorted(port_modes.items()))
            docs.append("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
                        "metadata: {name: %s-ports, namespace: default}\n"
                        "spec:\n  selector: {matchLabels: {app: %s}}\n  portLevelMtls:\n%s\n" % (name, name, ports))
        return "---\n".join(docs)

    def rotate(self, name, ttl=None):
        """Issues pod `name` a new certificate into the same directory (a rotation); returns the
        new serial."""
        self.creds[name] = self.ca.issue(name, ttl=ttl or self.CERT_TTL, out=self.creds[name].dir)
        return self.creds[name].serial()

    # -- health and metrics --------------------------------------------------------------------------

    def http_get(self, pod, port, path, timeout=5):
        """GET http://<pod ip>:<port><path> from inside `pod` itself (root on lo: never captured).
        Returns (status, body); status 0 if nothing answered."""
        res = pod.run(["curl", "-sS", "-g", "--noproxy", "*", "--max-time", str(timeout), "-w", "\n%{http_code}",
                       "http://%s:%d%s" % (pod.ip4, port, path)], timeout=timeout + 5)
        body, _, code = res.stdout.rpartition("\n")
        try:
            return int(code), body
        except ValueError:
            return 0, res.stdout + res.stderr

    def health(self, name, path="/healthz/ready"):
        return self.http_get(self.pod(name), 15021, path)

    def wait_health(self, name, status, timeout=10.0):
        """Waits until pod `name`'s readiness answers `status`; returns (status, body) last seen."""
        seen = [None]

        def check():
            seen[0] = self.health(name)
            return seen[0][0] == status
        if not wait_until(check, timeout=timeout, interval=0.2):
            self.fail("readiness of %s: wanted %d within %ss, last %s" % (name, status, timeout, seen[0]))
        return seen[0]

    def metrics(self, name):
        """pod `name`'s /stats/prometheus as {(metric, ((label, value), ...)): float}."""
        code, text = self.http_get(self.pod(name), 15090, "/stats/prometheus")
        if code != 200:
            raise HarnessError("metrics of %s: HTTP %s: %s" % (name, code, text[:500]))
        return parse_prometheus(text)

    def metric(self, name, metric, samples=None, **labels):
        """The sum of `metric`'s samples whose labels include `labels` (0 if none)."""
        samples = samples if samples is not None else self.metrics(name)
        total = 0.0
        for (m, lbls), value in samples.items():
            if m == metric and all(dict(lbls).get(k) == str(v) for k, v in labels.items()):
                total += value
        return total

    # -- running the TLS apps --------------------------------------------------------------------------

    def tls_app(self, pod, *args, timeout=60):
        res = pod.run([meshlib.PYTHON, "-u", APPS_TLS] + [str(a) for a in args], timeout=timeout)
        return self.parse_result(res.stdout, "%s in pod %s (exit %s, stderr: %s)"
                                 % (args[0], pod.name, res.returncode, res.stderr.strip()[-2000:]))

    def spawn_tls_app(self, pod, name, *args):
        return pod.spawn([meshlib.PYTHON, "-u", APPS_TLS] + [str(a) for a in args], name)

    # -- records -----------------------------------------------------------------------------------------

    def assertMTLSRecord(self, rec, peer_id, serial=None):
        """A connection record of a completed mTLS connection with `peer_id` (and its serial)."""
        self.assertEqual(rec.get("tls"), "mtls", rec)
        self.assertEqual(rec.get("peer"), peer_id, rec)
        self.assertIn(rec.get("tls_path"), ("userspace", "ktls"), rec)
        self.assertIn(rec.get("resumed"), ("0", "1"), rec)
        if serial is not None:
            self.assertEqual(pki.normalize_serial(rec.get("peer_serial", "0")), pki.normalize_serial(serial), rec)

    def reason_token(self, rec):
        """'untrusted-ca' of reason="untrusted-ca: ...", or '' if the record has no reason."""
        return rec.get("reason", "").split(":", 1)[0].strip()


_SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text):
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        if not m:
            continue
        labels = tuple(sorted((k, re.sub(r'\\(.)', r'\1', v)) for k, v in _LABEL_RE.findall(m.group(3) or "")))
        try:
            out[(m.group(1), labels)] = float(m.group(4))
        except ValueError:
            continue
    return out
