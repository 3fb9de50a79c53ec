"""Mesh identities for the netns scenarios: a CA per mesh made with `weft ca`, a workload certificate
per pod, and the bad certificates an attacker (or a misconfigured peer) would present.

    ca = MeshCA(mesh)                                  # `weft ca init --trust-domain cluster.local`
    b_id = ca.issue("b")                               # spiffe://cluster.local/ns/default/sa/b
    b_id.serial()                                      # "5A3F…" (upper-case hex, as openssl prints it)
    ca.issue("b")                                      # again into the same directory: a rotation
    bad = ca.openssl_leaf("expired", uris=["spiffe://cluster.local/ns/default/sa/c"],
                          start="20200101000000Z", end="20200102000000Z")

The proxy runs as uid 1337 and must read its workload's files, including the 0600 key. The
workload directories are therefore written by `weft ca issue` running as uid 1337 (the CA
directory belongs to 1337 too), so that a rotation, which `weft ca issue` performs by renaming
new files over the old ones, never leaves a root-owned key the proxy cannot read. Everything lives
under the harness's shared directory (0755) and goes with it.

Bad certificates are made with the openssl CLI (`openssl ca`, which can set any validity window):
they belong to clients that run as root, so they stay root's.
"""

import os
import shutil
import subprocess
import tempfile
import threading

import mesh as meshlib
from mesh import HarnessError

TRUST_DOMAIN = "cluster.local"
NAMESPACE = "default"

_counter_lock = threading.Lock()
_counter = [0]


def spiffe_id(service_account, namespace=NAMESPACE, trust_domain=TRUST_DOMAIN):
    return "spiffe://%s/ns/%s/sa/%s" % (trust_domain, namespace, service_account)


def _run(cmd, what, timeout=30, input=None):
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout,
                         input=input, stdin=None if input is not None else subprocess.DEVNULL)
    if res.returncode != 0:
        raise HarnessError("%s failed (exit %d): %s\nstdout: %s\nstderr: %s"
                           % (what, res.returncode, " ".join(cmd), res.stdout.strip(), res.stderr.strip()))
    return res


def _chown_tree(path, uid, gid):
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid)


def cert_serial(path):
    """The serial of the first certificate in a PEM file, upper-case hex without leading zeros."""
    res = _run(["openssl", "x509", "-in", path, "-noout", "-serial"], "openssl x509 -serial")
    return normalize_serial(res.stdout.strip().split("=", 1)[1])


def normalize_serial(text):
    """'0x00ab:cd' / '00ABCD' / 'abcd' -> 'ABCD': serials compare as numbers, whatever the format."""
    text = text.strip().lower().replace(":", "")
    if text.startswith("0x"):
        text = text[2:]
    return "%X" % int(text, 16)


def cert_dates(path):
    """(notBefore, notAfter) of the first certificate in a PEM file, as openssl prints them."""
    res = _run(["openssl", "x509", "-in", path, "-noout", "-startdate", "-enddate"], "openssl x509 -dates")
    vals = dict(line.split("=", 1) for line in res.stdout.splitlines() if "=" in line)
    return vals.get("notBefore"), vals.get("notAfter")


class Credentials:
    """A certificate chain, its key and the trust bundle, as files (the layout of `weft ca issue`)."""

    def __init__(self, directory, spiffe_id=None, chain="cert-chain.pem", key="key.pem", root="root-cert.pem"):
        self.dir = directory
        self.id = spiffe_id
        self.chain = os.path.join(directory, chain)
        self.key = os.path.join(directory, key)
        self.root = os.path.join(directory, root)

    def __repr__(self):
        return "Credentials(%s, %s)" % (self.id, self.dir)

    def serial(self):
        return cert_serial(self.chain)

    def dates(self):
        return cert_dates(self.chain)


class MeshCA:
    """A root CA for one mesh (`weft ca init`) and the workload certificates it issues."""

    def __init__(self, mesh=None, trust_domain=TRUST_DOMAIN, name="ca", ttl=None):
        self.trust_domain = trust_domain
        with _counter_lock:
            _counter[0] += 1
            n = _counter[0]
        tag = mesh.tag if mesh is not None else "pki-%d" % os.getpid()
        self.base = tempfile.mkdtemp(prefix="%s-%s-%d-" % (tag, name, n), dir=meshlib.shared_dir())
        os.chmod(self.base, 0o755)
        self.dir = os.path.join(self.base, "ca")
        self.log_path = mesh.log_path("pki.log") if mesh is not None else None
        cmd = [meshlib.weft_bin(), "ca", "init", "--trust-domain", trust_domain, "--out", self.dir]
        if ttl:
            cmd += ["--ttl", ttl]
        self._log(_run(cmd, "weft ca init"))
        # `weft ca issue` runs as uid 1337 (see the module docstring), so 1337 reads the CA.
        _chown_tree(self.dir, meshlib.PROXY_UID, meshlib.PROXY_GID)
        self.root = os.path.join(self.dir, "root-cert.pem")
        self.cert = os.path.join(self.dir, "ca-cert.pem")
        self.key = os.path.join(self.dir, "ca-key.pem")
        self._openssl_serial = 0

    def _log(self, res):
        if self.log_path:
            with open(self.log_path, "a") as f:
                f.write("$ %s\nexit %s\n%s%s\n" % (" ".join(res.args), res.returncode, res.stdout, res.stderr))
        return res

    def workload_dir(self, name):
        return os.path.join(self.base, "workload-" + name)

    def issue(self, name, spiffe=None, ttl="24h", out=None):
        """`weft ca issue --id spiffe://<td>/ns/default/sa/<name> --out DIR --ttl TTL` as uid 1337.
        Issuing again into the same directory replaces the files atomically: a rotation.
        Returns Credentials."""
        out = out or self.workload_dir(name)
        if not os.path.isdir(out):
            os.makedirs(out)
            os.chmod(out, 0o755)
            os.chown(out, meshlib.PROXY_UID, meshlib.PROXY_GID)
        ident = spiffe or spiffe_id(name, trust_domain=self.trust_domain)
        cmd = meshlib._setpriv_prefix() + [meshlib._proxy_binary(), "ca", "issue", "--ca", self.dir,
                                           "--id", ident, "--out", out, "--ttl", ttl]
        self._log(_run(cmd, "weft ca issue"))
        return Credentials(out, ident)

    def issue_raw(self, *args, check=False):
        """`weft ca issue ARGS` as root, for tests of the command itself; returns CompletedProcess."""
        res = subprocess.run([meshlib.weft_bin(), "ca", "issue", "--ca", self.dir] + list(args),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30,
                             stdin=subprocess.DEVNULL)
        self._log(res)
        return res

    def intermediate(self, name="intermediate", ttl="8760h"):
        """`weft ca issue --intermediate` into a new CA directory; returns a MeshCA-like issuer."""
        out = os.path.join(self.base, name)
        self._log(_run([meshlib.weft_bin(), "ca", "issue", "--ca", self.dir, "--intermediate", "--out", out,
                        "--ttl", ttl], "weft ca issue --intermediate"))
        _chown_tree(out, meshlib.PROXY_UID, meshlib.PROXY_GID)
        sub = MeshCA.__new__(MeshCA)
        sub.trust_domain, sub.base, sub.dir, sub.log_path = self.trust_domain, self.base, out, self.log_path
        sub.root = os.path.join(out, "root-cert.pem")
        sub.cert = os.path.join(out, "ca-cert.pem")
        sub.key = os.path.join(out, "ca-key.pem")
        sub._openssl_serial = 0
        return sub

    def openssl_leaf(self, name, uris=(), dns=(), start=None, end=None, days=1, ca_flag=False):
        """A P-256 leaf signed by this CA with the openssl CLI, with exactly the given URI and DNS
        SANs (none at all if both are empty) and validity window (`start`/`end` as
        YYYYMMDDHHMMSSZ; default: from now for `days`). Files: cert-chain.pem (the leaf), key.pem,
        root-cert.pem (this CA's root). For clients that run as root. Returns Credentials."""
        out = os.path.join(self.base, "openssl-" + name)
        os.makedirs(out, exist_ok=True)
        key = os.path.join(out, "key.pem")
        csr = os.path.join(out, "csr.pem")
        _run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key], "openssl ecparam")
        _run(["openssl", "req", "-new", "-key", key, "-subj", "/O=%s" % self.trust_domain, "-out", csr], "openssl req")
        sans = ["URI:%s" % u for u in uris] + ["DNS:%s" % d for d in dns]
        cnf = os.path.join(out, "ca.cnf")
        with open(cnf, "w") as f:
            f.write("[ca]\ndefault_ca = CA_default\n"
                    "[CA_default]\ndatabase = {d}/index.txt\nnew_certs_dir = {d}\nserial = {d}/serial\n"
                    "default_md = sha256\npolicy = policy_any\nunique_subject = no\nemail_in_dn = no\n"
                    "[policy_any]\norganizationName = optional\ncommonName = optional\n"
                    "[v3]\nbasicConstraints = critical,CA:{ca}\nkeyUsage = critical,digitalSignature{ks}\n"
                    "extendedKeyUsage = serverAuth,clientAuth\n{san}"
                    .format(d=out, ca="TRUE" if ca_flag else "FALSE", ks=",keyCertSign" if ca_flag else "",
                            san=("subjectAltName = %s\n" % ",".join(sans)) if sans else ""))
        open(os.path.join(out, "index.txt"), "w").close()
        cert = os.path.join(out, "cert-chain.pem")
        cmd = ["openssl", "ca", "-batch", "-config", cnf, "-rand_serial", "-in", csr, "-cert", self.cert,
               "-keyfile", self.key, "-extensions", "v3", "-notext", "-out", cert]
        if start or end:
            cmd += ["-startdate", start or "20200101000000Z", "-enddate", end or "20991231000000Z"]
        else:
            cmd += ["-days", str(days)]
        _run(cmd, "openssl ca")
        shutil.copy(self.root, os.path.join(out, "root-cert.pem"))
        return Credentials(out, uris[0] if uris else None)

    def self_signed_server(self, name, common_name, ip_sans=(), dns=()):
        """A self-signed RSA-less (P-256) server certificate for an application's *own* TLS, made
        with `openssl req -x509`; unrelated to the mesh. Returns Credentials (root = the cert)."""
        out = os.path.join(self.base, "app-" + name)
        os.makedirs(out, exist_ok=True)
        key, cert = os.path.join(out, "key.pem"), os.path.join(out, "cert-chain.pem")
        san = ",".join(["IP:%s" % i for i in ip_sans] + ["DNS:%s" % d for d in dns])
        _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=%s" % common_name]
             + (["-addext", "subjectAltName=%s" % san] if san else []), "openssl req -x509")
        shutil.copy(cert, os.path.join(out, "root-cert.pem"))
        for p in (key, cert):
            os.chmod(p, 0o644)
        os.chmod(out, 0o755)
        return Credentials(out, None)
