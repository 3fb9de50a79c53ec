#!/usr/bin/env python3
"""HTTP/1.1 peers for the L7 netns scenarios (standard library only), written on raw sockets so that
every byte on the wire is the test's choice and every byte received is seen.

They know nothing about Weft. Clients print one `RESULT {json}` line; the server writes one JSON
object per line to its --log file (what it received, request by request).

    record-server --port P --log FILE      the backend: records every byte it receives and every
                                           request it can frame (strictly), answers each with a
                                           fixed response; special paths below
    http-client   --host H --port P --script JSON [--pipeline] [--repeat N]
                                           requests on ONE connection, responses parsed in order
    raw-client    --host H --port P --vectors FILE --out FILE [--threads N]
                                           raw byte vectors, one connection each, responses parsed
    ws-client     --host H --port P        a WebSocket handshake, then echoed frames of 3 sizes
    upload-client --host H --port P --bytes N [--chunk S]
                                           one chunked POST of N bytes (blocks carry their index)
    late-client   --host H --port P --delay S --send TEXT [--expect TEXT]
                                           connects, stays silent for S seconds, then speaks

record-server's log lines (`ev`):
    open      {conn, peer}
    raw       {conn, b64}                  bytes as received (the first --raw-cap bytes per connection)
    request   {conn, n, method, target, version, headers, framing, body_len, body_sha256, body_head,
               chunk_extensions, trailers}
    anomaly   {conn, what, head}           a head the backend cannot frame without guessing (CL and
                                           TE, two CLs, TE not chunked, bare CR/LF, obs-fold...): a
                                           proxy must never forward one. The connection is closed.
    leftover  {conn, bytes, b64}           bytes left unframed when the peer closed
    close     {conn, requests}

Its responses: `200` with `x-backend-conn`, `x-backend-count` and the body
`seen <conn> <n> <METHOD> <target> <body_len> <body_sha256>\\n`, except:
    HEAD                 200, Content-Length: 1024, no body
    /status/204          204, no body
    /status/304          304 with `Content-Length: 1024` (of the representation), no body
    /1xx                 a 103 Early Hints first, then the 200
    /chunked-response    a chunked body in 5 chunks with a trailer
    /until-close?bytes=N a 200 with neither Content-Length nor chunked: N bytes, then close
    /big?bytes=N         a 200 with N bytes
    /slow                waits 0.5 s before answering
    Upgrade: websocket   101, a greeting text frame in the same write, then echoes every frame
Requests with `Expect: 100-continue` and a body get `100 Continue` before the body is read.
"""

import argparse
import base64
import concurrent.futures
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tcpapps import connect, listener, pattern_block, peer_host, result, say, subcommands  # noqa: E402

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Closed(Exception):
    """The peer closed (EOF) where more bytes were needed."""


class Reader:
    """Buffered reads from a socket with an optional callback on every received block."""

    def __init__(self, sock, on_data=None):
        self.sock = sock
        self.buf = bytearray()
        self.pos = 0
        self.eof = False
        self.on_data = on_data

    def available(self):
        return len(self.buf) - self.pos

    def fill(self):
        if self.eof:
            return False
        try:
            data = self.sock.recv(1 << 20)
        except ConnectionResetError:
            self.eof = True
            self.reset = True
            return False
        if not data:
            self.eof = True
            return False
        if self.pos > (1 << 20):
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += data
        if self.on_data:
            self.on_data(data)
        return True

    def read_until(self, delim, limit=1 << 20):
        """Bytes up to `delim` (excluded; `delim` consumed). Raises Closed at EOF."""
        # Where to search from, relative to `pos`: fill() may move the buffer's contents.
        searched = 0
        while True:
            i = self.buf.find(delim, self.pos + searched)
            if i >= 0:
                out = bytes(self.buf[self.pos:i])
                self.pos = i + len(delim)
                return out
            searched = max(0, len(self.buf) - self.pos - len(delim) + 1)
            if len(self.buf) - self.pos > limit:
                raise ValueError("no %r within %d bytes" % (delim, limit))
            if not self.fill():
                raise Closed()

    def read_exact(self, n):
        while self.available() < n:
            if not self.fill():
                raise Closed()
        out = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return out

    def read_some(self, maxn):
        """Up to `maxn` bytes (at least one); b"" at EOF."""
        if self.available() == 0 and not self.fill():
            return b""
        n = min(maxn, self.available())
        out = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return out


def parse_fields(lines):
    out = []
    for line in lines:
        name, _, value = line.partition(b":")
        out.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
    return out


def field(headers, name):
    """All values of `name` (case-insensitive)."""
    return [v for n, v in headers if n.lower() == name.lower()]


def has_token(headers, name, token):
    return any(token.lower() == t.strip().lower() for v in field(headers, name) for t in v.split(","))


# ---------------------------------------------------------------------------------------------
# The recording backend.

class Log:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1)
        self.lock = threading.Lock()

    def write(self, obj):
        line = json.dumps(obj, sort_keys=True)
        with self.lock:
            self.f.write(line + "\n")


def strict_head(head):
    """(method, target, version, headers) of a head the backend can frame, or raises ValueError
    with what makes it ambiguous."""
    if b"\x00" in head:
        raise ValueError("nul")
    if b"\r" in head.replace(b"\r\n", b"") or b"\n" in head.replace(b"\r\n", b""):
        raise ValueError("bare-cr-or-lf")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[2] not in (b"HTTP/1.0", b"HTTP/1.1") or not parts[0] or not parts[1]:
        raise ValueError("request-line %r" % lines[0][:100])
    for line in lines[1:]:
        if not line or line[:1] in (b" ", b"\t"):
            raise ValueError("obs-fold-or-empty-line")
        name, colon, _ = line.partition(b":")
        if not colon or not name or any(c in name for c in b" \t"):
            raise ValueError("field-name %r" % line[:100])
    headers = parse_fields(lines[1:])
    cls, tes = field(headers, "content-length"), field(headers, "transfer-encoding")
    if cls and tes:
        raise ValueError("cl-and-te")
    if len(cls) > 1:
        raise ValueError("several-content-length")
    if cls and not cls[0].isdigit():
        raise ValueError("content-length %r" % cls[0])
    if tes and (len(tes) > 1 or tes[0].lower() != "chunked"):
        raise ValueError("transfer-encoding %r" % tes)
    if len(field(headers, "host")) != 1:
        raise ValueError("host fields: %d" % len(field(headers, "host")))
    return parts[0].decode("latin-1"), parts[1].decode("latin-1"), parts[2].decode(), headers


class Body:
    def __init__(self):
        self.h = hashlib.sha256()
        self.n = 0
        self.head = bytearray()
        self.chunk_extensions = False
        self.trailers = []

    def add(self, data):
        self.h.update(data)
        self.n += len(data)
        if len(self.head) < 2048:
            self.head += data[:2048 - len(self.head)]


def read_chunked(r, body):
    while True:
        line = r.read_until(b"\r\n", limit=4096)
        size_part, semi, _ = line.partition(b";")
        if semi:
            body.chunk_extensions = True
        size_text = size_part.decode("latin-1")
        if not size_text or any(c not in "0123456789abcdefABCDEF" for c in size_text):
            raise ValueError("chunk-size %r" % line[:60])
        size = int(size_text, 16)
        if size == 0:
            break
        left = size
        while left:
            data = r.read_some(min(left, 1 << 20))
            if not data:
                raise Closed()
            body.add(data)
            left -= len(data)
        if r.read_exact(2) != b"\r\n":
            raise ValueError("chunk-missing-crlf")
    while True:
        line = r.read_until(b"\r\n", limit=16384)
        if not line:
            return
        body.trailers.append(line.decode("latin-1"))


def ws_accept(key):
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


def ws_frame(opcode, payload, mask=False):
    head = bytearray([0x80 | opcode])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head.append(mbit | n)
    elif n < 65536:
        head.append(mbit | 126)
        head += struct.pack(">H", n)
    else:
        head.append(mbit | 127)
        head += struct.pack(">Q", n)
    if mask:
        key = os.urandom(4)
        head += key
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes(head) + payload


def ws_read(r):
    b0, b1 = r.read_exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", r.read_exact(2))[0]
    elif n == 127:
        n = struct.unpack(">Q", r.read_exact(8))[0]
    key = r.read_exact(4) if b1 & 0x80 else None
    payload = r.read_exact(n)
    if key:
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return b0 & 0x0F, payload


def websocket_echo(sock, r, headers, log, conn_id):
    key = (field(headers, "sec-websocket-key") or [""])[0]
    greeting = ws_frame(0x1, b"welcome")
    sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Accept: %s\r\n\r\n" % ws_accept(key)).encode() + greeting)
    frames = 0
    while True:
        try:
            opcode, payload = ws_read(r)
        except Closed:
            break
        if opcode == 0x8:
            sock.sendall(ws_frame(0x8, payload[:2]))
            break
        sock.sendall(ws_frame(opcode, payload))
        frames += 1
    log.write({"ev": "websocket", "conn": conn_id, "frames": frames})


def record_server(args):
    log = Log(args.log)
    counter = [0]
    lock = threading.Lock()
    block = pattern_block("until-close", 65536)

    def handle(sock, addr):
        with lock:
            counter[0] += 1
            conn_id = counter[0]
        logged = [0]

        def on_data(data):
            if logged[0] < args.raw_cap:
                piece = data[:args.raw_cap - logged[0]]
                logged[0] += len(piece)
                log.write({"ev": "raw", "conn": conn_id, "b64": base64.b64encode(piece).decode()})

        log.write({"ev": "open", "conn": conn_id, "peer": peer_host(addr)})
        r = Reader(sock, on_data)
        n = 0
        try:
            while True:
                try:
                    head = r.read_until(b"\r\n\r\n", limit=1 << 20)
                except Closed:
                    if r.available():
                        rest = bytes(r.buf[r.pos:])
                        log.write({"ev": "leftover", "conn": conn_id, "bytes": len(rest),
                                   "b64": base64.b64encode(rest[:65536]).decode()})
                    break
                try:
                    method, target, version, headers = strict_head(head)
                except ValueError as e:
                    log.write({"ev": "anomaly", "conn": conn_id, "what": str(e), "head": head.decode("latin-1")})
                    break
                n += 1
                body = Body()
                framing = "none"
                cls, tes = field(headers, "content-length"), field(headers, "transfer-encoding")
                wants_body = (cls and int(cls[0]) > 0) or tes
                if wants_body and has_token(headers, "expect", "100-continue"):
                    sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                try:
                    if cls:
                        framing = "cl"
                        left = int(cls[0])
                        while left:
                            data = r.read_some(min(left, 1 << 20))
                            if not data:
                                raise Closed()
                            body.add(data)
                            left -= len(data)
                    elif tes:
                        framing = "chunked"
                        read_chunked(r, body)
                except ValueError as e:
                    log.write({"ev": "anomaly", "conn": conn_id, "what": "body: %s" % e, "head": head.decode("latin-1")})
                    break
                except Closed:
                    log.write({"ev": "leftover", "conn": conn_id, "bytes": body.n, "b64": "",
                               "what": "closed inside the body of %s %s" % (method, target)})
                    break
                sha = body.h.hexdigest()
                log.write({"ev": "request", "conn": conn_id, "n": n, "method": method, "target": target,
                           "version": version, "headers": headers, "framing": framing, "body_len": body.n,
                           "body_sha256": sha, "body_head": bytes(body.head).decode("latin-1"),
                           "chunk_extensions": body.chunk_extensions, "trailers": body.trailers})
                persistent = not has_token(headers, "connection", "close") and (
                    version == "HTTP/1.1" or has_token(headers, "connection", "keep-alive"))
                if has_token(headers, "upgrade", "websocket") and has_token(headers, "connection", "upgrade"):
                    websocket_echo(sock, r, headers, log, conn_id)
                    break
                base = "x-backend-conn: %d\r\nx-backend-count: %d\r\n" % (conn_id, n)
                path, _, query = target.partition("?")
                params = dict(p.partition("=")[::2] for p in query.split("&") if p)
                if path == "/slow":
                    time.sleep(0.5)
                if method == "HEAD":
                    sock.sendall(("HTTP/1.1 200 OK\r\n%sContent-Length: 1024\r\n\r\n" % base).encode())
                elif path == "/status/204":
                    sock.sendall(("HTTP/1.1 204 No Content\r\n%s\r\n" % base).encode())
                elif path == "/status/304":
                    sock.sendall(("HTTP/1.1 304 Not Modified\r\n%sETag: \"v1\"\r\nContent-Length: 1024\r\n\r\n" % base).encode())
                elif path == "/until-close":
                    size = int(params.get("bytes", "65536"))
                    sock.sendall(("HTTP/1.1 200 OK\r\n%sContent-Type: application/octet-stream\r\n\r\n" % base).encode())
                    sent = 0
                    while sent < size:
                        k = min(len(block), size - sent)
                        sock.sendall(block[:k])
                        sent += k
                    break
                elif path == "/big":
                    size = int(params.get("bytes", "1024"))
                    data = (block * (size // len(block) + 1))[:size]
                    sock.sendall(("HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n" % (base, size)).encode() + data)
                elif path == "/chunked-response":
                    parts = [b"alpha-", b"bravo-", b"charlie-", b"delta-", b"echo\n"]
                    payload = b"".join(b"%x;ext=%d\r\n%s\r\n" % (len(p), i, p) for i, p in enumerate(parts))
                    sock.sendall(("HTTP/1.1 200 OK\r\n%sTransfer-Encoding: chunked\r\nTrailer: x-digest\r\n\r\n" % base).encode()
                                 + payload + b"0\r\nx-digest: 42\r\n\r\n")
                else:
                    text = ("seen %d %d %s %s %d %s\n" % (conn_id, n, method, target, body.n, sha)).encode()
                    pre = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" if path == "/1xx" else b""
                    close = "" if persistent else "Connection: close\r\n"
                    sock.sendall(pre + ("HTTP/1.1 200 OK\r\n%s%sContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
                                        % (base, close, len(text))).encode() + text)
                if not persistent:
                    break
        except (ConnectionError, OSError) as e:
            log.write({"ev": "error", "conn": conn_id, "error": str(e)})
        finally:
            log.write({"ev": "close", "conn": conn_id, "requests": n})
            try:
                sock.close()
            except OSError:
                pass

    ls = listener(args.port)
    say("LISTENING %d" % args.port)
    while True:
        conn, addr = ls.accept()
        threading.Thread(target=handle, args=(conn, addr), daemon=True).start()


# ---------------------------------------------------------------------------------------------
# Clients.

def read_response(r, method="GET"):
    """One response: {status, reason, headers, body_len, body_sha256, body, framing, interim}.
    Interim (1xx) responses are collected in `interim`. Raises Closed if the connection ends
    before a complete response."""
    interim = []
    while True:
        head = r.read_until(b"\r\n\r\n", limit=1 << 20)
        lines = head.split(b"\r\n")
        version, _, rest = lines[0].partition(b" ")
        status_text, _, reason = rest.partition(b" ")
        status = int(status_text)
        headers = parse_fields(lines[1:])
        if 100 <= status < 200 and status != 101:
            interim.append({"status": status, "headers": headers})
            continue
        break
    h = hashlib.sha256()
    n = 0
    keep = bytearray()
    framing = "none"

    def add(data):
        nonlocal n
        h.update(data)
        n += len(data)
        if len(keep) < 4096:
            keep.extend(data[:4096 - len(keep)])
    bodyless = method == "HEAD" or status in (204, 304) or 100 <= status < 200
    if not bodyless:
        tes, cls = field(headers, "transfer-encoding"), field(headers, "content-length")
        if tes:
            framing = "chunked"
            body = Body()
            read_chunked(r, body)
            h, n, keep = body.h, body.n, body.head
        elif cls:
            framing = "cl"
            left = int(cls[0])
            while left:
                data = r.read_some(min(left, 1 << 20))
                if not data:
                    raise Closed()
                add(data)
                left -= len(data)
        else:
            framing = "until-close"
            while True:
                data = r.read_some(1 << 20)
                if not data:
                    break
                add(data)
    return {"status": status, "reason": reason.decode("latin-1"), "headers": headers, "body_len": n,
            "body_sha256": h.hexdigest(), "body": bytes(keep[:600]).decode("latin-1"), "framing": framing,
            "interim": interim, "version": version.decode("latin-1")}


def build_request(req, host):
    """Bytes of one request of a script entry {method, path, headers, body}."""
    if "raw" in req:
        return req["raw"].encode("latin-1")
    body = req.get("body", "").encode("latin-1")
    headers = [("Host", host)] + [tuple(h) for h in req.get("headers", [])]
    if body and not any(n.lower() in ("content-length", "transfer-encoding") for n, _ in headers):
        headers.append(("Content-Length", str(len(body))))
    head = "%s %s HTTP/1.1\r\n" % (req.get("method", "GET"), req["path"])
    head += "".join("%s: %s\r\n" % h for h in headers) + "\r\n"
    return head.encode("latin-1") + body


def http_client(args):
    script = json.loads(args.script)
    if args.repeat > 1:
        script = script * args.repeat
    sock = connect(args.host, args.port, timeout=args.timeout)
    host = args.host if ":" not in args.host else "[%s]" % args.host
    r = Reader(sock)
    out = {"responses": [], "error": "", "closed": False}
    t0 = time.monotonic()
    try:
        if args.pipeline:
            sock.sendall(b"".join(build_request(q, host) for q in script))
        for q in script:
            if not args.pipeline:
                sock.sendall(build_request(q, host))
            resp = read_response(r, q.get("method", "GET"))
            if args.summary:
                resp = {k: resp[k] for k in ("status", "body")}
                resp["conn"] = resp["body"].split(" ")[1] if resp["body"].startswith("seen ") else ""
            out["responses"].append(resp)
        # Does the connection stay open? Wait briefly for an EOF.
        sock.settimeout(args.linger)
        try:
            out["closed"] = sock.recv(1) == b""
        except socket.timeout:
            out["closed"] = False
        except ConnectionResetError:
            out["closed"] = True
    except Closed:
        out["error"] = "closed after %d responses" % len(out["responses"])
        out["closed"] = True
    except (OSError, ValueError) as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
    out["elapsed"] = time.monotonic() - t0
    sock.close()
    result(out)


def run_vector(host, port, vec, timeout):
    out = {"name": vec["name"], "responses": [], "eof": False, "reset": False, "error": ""}
    try:
        sock = connect(host, port, timeout=timeout)
    except OSError as e:
        out["error"] = "connect: %s" % e
        return out
    r = Reader(sock)
    try:
        for i, part in enumerate(vec["parts"]):
            if i:
                time.sleep(0.05)
            sock.sendall(base64.b64decode(part))
        while len(out["responses"]) < vec.get("max_responses", 8):
            try:
                out["responses"].append(read_response(r))
            except Closed:
                out["eof"] = True
                break
            if len(out["responses"]) >= vec.get("expect_responses", 1) and not any(
                    has_token(resp["headers"], "connection", "close") for resp in out["responses"]):
                # Everything asked for came back: see whether the proxy leaves it open.
                sock.settimeout(0.3)
                try:
                    out["eof"] = sock.recv(1) == b""
                except socket.timeout:
                    pass
                break
    except ConnectionResetError:
        out["reset"] = True
    except socket.timeout:
        out["error"] = "timeout"
    except (OSError, ValueError) as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        sock.close()
    if getattr(r, "reset", False):
        out["reset"] = True
    return out


def raw_client(args):
    with open(args.vectors) as f:
        vectors = json.load(f)
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.threads) as pool:
        outs = list(pool.map(lambda v: run_vector(args.host, args.port, v, args.timeout), vectors))
    with open(args.out, "w") as f:
        json.dump(outs, f)
    result({"vectors": len(outs), "elapsed": time.monotonic() - t0,
            "errors": [o["name"] for o in outs if o["error"]]})


def ws_client(args):
    sock = connect(args.host, args.port, timeout=10)
    host = args.host if ":" not in args.host else "[%s]" % args.host
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(("GET /chat HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (host, key)).encode())
    r = Reader(sock)
    out = {"ok": False, "echoed": [], "error": ""}
    try:
        resp = read_response(r)
        out["status"] = resp["status"]
        out["headers"] = resp["headers"]
        out["accept_ok"] = field(resp["headers"], "sec-websocket-accept") == [ws_accept(key)]
        opcode, greeting = ws_read(r)
        out["greeting"] = greeting.decode()
        sizes = [5, 300, 70000]
        for i, size in enumerate(sizes):
            payload = (("frame-%d-" % i) * size).encode()[:size]
            sock.sendall(ws_frame(0x2, payload, mask=True))
            opcode, echo = ws_read(r)
            out["echoed"].append(echo == payload and opcode == 0x2)
        sock.sendall(ws_frame(0x8, struct.pack(">H", 1000), mask=True))
        opcode, _ = ws_read(r)
        out["close_echoed"] = opcode == 0x8
        out["ok"] = out["accept_ok"] and all(out["echoed"]) and out["close_echoed"]
    except (Closed, OSError, ValueError) as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
    sock.close()
    result(out)


def upload_client(args):
    """POST /upload with a chunked body of `bytes`, blocks carrying their index at both ends."""
    sock = connect(args.host, args.port, timeout=None)
    sock.settimeout(args.timeout)
    host = args.host if ":" not in args.host else "[%s]" % args.host
    block = bytearray(pattern_block("upload", args.chunk))
    h = hashlib.sha256()
    t0 = time.monotonic()
    sock.sendall(("POST /upload HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n"
                  "Content-Type: application/octet-stream\r\n\r\n" % host).encode())
    sent, i = 0, 0
    try:
        while sent < args.bytes:
            n = min(args.chunk, args.bytes - sent)
            struct.pack_into(">Q", block, 0, i)
            struct.pack_into(">Q", block, len(block) - 8, i)
            view = memoryview(block)[:n]
            h.update(view)
            sock.sendall(b"%x\r\n" % n + view + b"\r\n")
            sent += n
            i += 1
        sock.sendall(b"0\r\n\r\n")
    except OSError as e:
        result({"sent": sent, "error": "sending, after %d bytes in %.1f s: %s: %s"
                % (sent, time.monotonic() - t0, type(e).__name__, e), "elapsed": time.monotonic() - t0})
        return
    out = {"sent": sent, "sha256": h.hexdigest(), "error": ""}
    try:
        resp = read_response(Reader(sock))
        out["status"] = resp["status"]
        words = resp["body"].split()
        out["backend_len"], out["backend_sha256"] = int(words[5]), words[6]
    except (Closed, OSError, ValueError, IndexError) as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
    out["elapsed"] = time.monotonic() - t0
    sock.close()
    result(out)


def late_client(args):
    t0 = time.monotonic()
    sock = connect(args.host, args.port, timeout=10)
    time.sleep(args.delay)
    sock.sendall(args.send.encode().decode("unicode_escape").encode("latin-1"))
    want = args.expect.encode().decode("unicode_escape").encode("latin-1") if args.expect else None
    got = bytearray()
    sock.settimeout(5)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            got += data
            if want is not None and want in got:
                break
    except socket.timeout:
        pass
    sock.close()
    result({"reply": got.decode("latin-1"), "elapsed": time.monotonic() - t0})


def main():
    p, add = subcommands(__doc__)

    add("record-server", record_server, server=True, log={"required": True},
        raw_cap={"type": int, "default": 1 << 20})
    add("http-client", http_client, script={"required": True}, pipeline={"action": "store_true"},
        repeat={"type": int, "default": 1}, summary={"action": "store_true"},
        timeout={"type": float, "default": 10.0}, linger={"type": float, "default": 0.3})
    add("raw-client", raw_client, vectors={"required": True}, out={"required": True},
        threads={"type": int, "default": 8}, timeout={"type": float, "default": 5.0})
    add("ws-client", ws_client)
    add("upload-client", upload_client, bytes={"type": int, "required": True},
        chunk={"type": int, "default": 65536}, timeout={"type": float, "default": 120.0})
    add("late-client", late_client, delay={"type": float, "default": 1.0}, send={"required": True},
        expect={"default": ""})
    args = p.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
