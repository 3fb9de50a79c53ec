#!/usr/bin/env python3
"""TLS clients and servers the mTLS scenarios run inside pods (standard library only).

The clients play peers that are not Weft sidecars: a workload with the wrong certificate, a
scanner sending garbage, a client that stalls half-way through its ClientHello. The servers are
applications that do their own TLS. Each prints one `RESULT {json}` line that the tests parse.

    tls-client    --host H --port P [--cert C --key K] [--ca R] [--alpn weft/1] [--send TEXT] [--delay S]
                  a TLS 1.3 client (python's ssl); reports the handshake, what the server
                  answered, or how it refused (alert text, EOF, reset); --delay waits S seconds
                  between connecting and sending the ClientHello
    hello-client  --host H --port P --mode MODE [--alpn weft/1] [--wait S]
                  raw bytes on a TCP connection, then waits for the server to close:
                    garbage       random bytes that are not TLS
                    tls-garbage   a TLS handshake record header followed by random bytes
                    half-eof      the first half of a real ClientHello, then FIN
                    half-stall    the first half of a real ClientHello, then nothing
                    full-stall    a whole ClientHello, then nothing (never answers the server)
                    silent        nothing at all
    tls-server    --port P --cert C --key K [--token T]
                  an HTTPS/1.1 server with its own certificate (not the mesh's); every GET is
                  answered with "<token> <path>"
    http-loop     --url U --seconds S [--parallel N] [--expect TEXT]
                  GET U on a new connection each time, for S seconds, N loops at once; counts
                  successes and failures (a curl loop, without a process per request)
"""

import argparse
import errno
import http.client
import http.server
import json
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse


def result(obj):
    sys.stdout.write("RESULT " + json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def connect(host, port, timeout=10.0):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def client_context(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    if args.ca:
        ctx.load_verify_locations(args.ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        # The point is what the *server* does with our certificate, so we accept any.
        ctx.verify_mode = ssl.CERT_NONE
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    if args.alpn:
        ctx.set_alpn_protocols(args.alpn.split(","))
    return ctx


def _error_name(e):
    if isinstance(e, ssl.SSLError):
        return "ssl: %s" % (e.reason or e)
    if isinstance(e, OSError) and e.errno:
        return errno.errorcode.get(e.errno, str(e))
    return "%s: %s" % (type(e).__name__, e)


def tls_client(args):
    """Handshake, send one request, read what comes back. In TLS 1.3 the client's handshake
    ends before the server has checked the client's certificate, so a refusal usually shows
    as an alert on the first read rather than as a handshake error."""
    t0 = time.monotonic()
    out = {"handshake": None, "outcome": None, "detail": "", "data": ""}
    try:
        raw = connect(args.host, args.port, timeout=args.timeout)
    except OSError as e:
        out.update(handshake="connect-error", outcome="connect-error", detail=_error_name(e))
        out["elapsed"] = time.monotonic() - t0
        result(out)
        return
    if args.delay:
        time.sleep(args.delay)  # a peer slow to send its ClientHello (a busy sidecar)
    ctx = client_context(args)
    s = ctx.wrap_socket(raw, server_hostname=args.sni, do_handshake_on_connect=False)
    try:
        s.do_handshake()
        out["handshake"] = "ok"
        out["version"] = s.version()
        out["cipher"] = s.cipher()[0]
        out["alpn"] = s.selected_alpn_protocol()
        peer = s.getpeercert(binary_form=True)
        out["server_cert_bytes"] = len(peer) if peer else 0
    except (ssl.SSLError, OSError) as e:
        out["handshake"] = "error"
        out["outcome"] = "handshake-error"
        out["detail"] = _error_name(e)
    if out["handshake"] == "ok":
        data = b""
        try:
            s.sendall(args.send.encode().replace(b"\\r\\n", b"\r\n"))
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            out["outcome"] = "data" if data else "eof"
        except ssl.SSLZeroReturnError:
            out["outcome"] = "data" if data else "eof"
        except ssl.SSLError as e:
            out["outcome"] = "alert" if "ALERT" in str(e).upper() else "ssl-error"
            out["detail"] = _error_name(e)
        except (ConnectionResetError, BrokenPipeError) as e:
            out["outcome"] = "reset"
            out["detail"] = _error_name(e)
        except socket.timeout:
            out["outcome"] = "timeout"
        except OSError as e:
            out["outcome"] = "error"
            out["detail"] = _error_name(e)
        out["data"] = data.decode(errors="replace")[:2000]
        if out["outcome"] in ("data", "eof") and not args.no_close_notify:
            # Answer the server's close_notify with ours (RFC 8446 §6.1), as a well-behaved peer does.
            try:
                s.unwrap()
            except (ssl.SSLError, OSError):
                pass
    try:
        s.close()
    except OSError:
        pass
    out["elapsed"] = time.monotonic() - t0
    result(out)


def client_hello(alpn):
    """The bytes of a real TLS 1.3 ClientHello made by python's ssl (OpenSSL), never sent by it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn.split(","))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_side=False)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def hello_client(args):
    t0 = time.monotonic()
    mode = args.mode
    if mode == "garbage":
        # Never 0x16 (a TLS handshake record) nor an ASCII method name: just noise.
        payload = bytes([0x80 | b for b in os.urandom(256)])
    elif mode == "tls-garbage":
        body = os.urandom(300)
        payload = bytes([0x16, 0x03, 0x01, len(body) >> 8, len(body) & 0xff]) + body
    elif mode in ("half-eof", "half-stall"):
        hello = client_hello(args.alpn)
        payload = hello[: len(hello) // 2]
    elif mode == "full-stall":
        payload = client_hello(args.alpn)
    elif mode == "silent":
        payload = b""
    else:
        raise SystemExit("unknown mode %s" % mode)
    outcome, detail, data = None, "", b""
    try:
        s = connect(args.host, args.port, timeout=10)
    except OSError as e:
        result({"outcome": "connect-error", "detail": _error_name(e), "sent": 0, "elapsed": time.monotonic() - t0})
        return
    try:
        if payload:
            s.sendall(payload)
        if mode == "half-eof":
            s.shutdown(socket.SHUT_WR)
        say("SENT %d" % len(payload))
        sent_at = time.monotonic()
        s.settimeout(args.wait)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                outcome = "data" if data else "eof"
                break
            data += chunk
    except ConnectionResetError:
        outcome = "reset"
    except socket.timeout:
        outcome = "still-open"
    except OSError as e:
        outcome, detail = "error", _error_name(e)
    closed_after = time.monotonic() - sent_at if "sent_at" in locals() else None
    s.close()
    # What came back, if anything, is at most a TLS alert or a ServerHello: report its first bytes.
    result({"outcome": outcome, "detail": detail, "sent": len(payload), "closed_after": closed_after,
            "received": len(data), "head": data[:16].hex(), "elapsed": time.monotonic() - t0})


def tls_server(args):
    token = args.token

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = ("%s %s\n" % (token, self.path)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *a):
            say("%s %s" % (self.client_address[0], fmt % a))

    class Server(http.server.ThreadingHTTPServer):
        address_family = socket.AF_INET6
        daemon_threads = True

        def server_bind(self):
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            super().server_bind()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    srv = Server(("::", args.port), Handler)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    say("LISTENING %d" % args.port)
    srv.serve_forever()


def http_loop(args):
    """GETs on new connections for `seconds`; `parallel` loops. Every failure is counted with its
    reason and time; nothing is retried."""
    url = urllib.parse.urlsplit(args.url)
    host, port = url.hostname, url.port or 80
    path = url.path + ("?" + url.query if url.query else "")
    stop_at = time.monotonic() + args.seconds
    lock = threading.Lock()
    stats = {"ok": 0, "failed": 0, "errors": {}, "first_failures": []}
    t0 = time.monotonic()

    def loop(i):
        n = 0
        while time.monotonic() < stop_at:
            n += 1
            err = None
            try:
                conn = http.client.HTTPConnection(host, port, timeout=10)
                conn.request("GET", "%s%sn=%d-%d" % (path, "&" if "?" in path else "?", i, n),
                              headers={"Connection": "close"})
                resp = conn.getresponse()
                body = resp.read().decode(errors="replace")
                conn.close()
                if resp.status != 200:
                    err = "status %d" % resp.status
                elif args.expect and args.expect not in body:
                    err = "unexpected body"
            except Exception as e:  # noqa: BLE001 - counted, not raised
                err = _error_name(e)
            with lock:
                if err is None:
                    stats["ok"] += 1
                else:
                    stats["failed"] += 1
                    stats["errors"][err] = stats["errors"].get(err, 0) + 1
                    if len(stats["first_failures"]) < 10:
                        stats["first_failures"].append([round(time.monotonic() - t0, 3), err])

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(args.parallel)]
    for t in threads:
        t.start()
    say("STARTED")
    for t in threads:
        t.join()
    stats["elapsed"] = time.monotonic() - t0
    result(stats)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    sp = sub.add_parser("tls-client")
    sp.add_argument("--host", required=True)
    sp.add_argument("--port", type=int, required=True)
    sp.add_argument("--cert")
    sp.add_argument("--key")
    sp.add_argument("--ca")
    sp.add_argument("--alpn", default="weft/1")
    sp.add_argument("--sni")
    sp.add_argument("--send", default="GET /hello.txt HTTP/1.0\\r\\n\\r\\n")
    sp.add_argument("--timeout", type=float, default=10.0)
    sp.add_argument("--no-close-notify", action="store_true", help="close the TCP connection without close_notify")
    sp.add_argument("--delay", type=float, default=0.0, help="seconds between connect and the ClientHello")
    sp.set_defaults(fn=tls_client)

    sp = sub.add_parser("hello-client")
    sp.add_argument("--host", required=True)
    sp.add_argument("--port", type=int, required=True)
    sp.add_argument("--mode", required=True,
                    choices=["garbage", "tls-garbage", "half-eof", "half-stall", "full-stall", "silent"])
    sp.add_argument("--alpn", default="weft/1")
    sp.add_argument("--wait", type=float, default=15.0)
    sp.set_defaults(fn=hello_client)

    sp = sub.add_parser("tls-server")
    sp.add_argument("--port", type=int, required=True)
    sp.add_argument("--cert", required=True)
    sp.add_argument("--key", required=True)
    sp.add_argument("--token", default="app-tls")
    sp.set_defaults(fn=tls_server)

    sp = sub.add_parser("http-loop")
    sp.add_argument("--url", required=True)
    sp.add_argument("--seconds", type=float, default=10.0)
    sp.add_argument("--parallel", type=int, default=2)
    sp.add_argument("--expect", default="")
    sp.set_defaults(fn=http_loop)

    args = p.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
