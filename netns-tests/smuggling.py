"""The request-smuggling corpus: raw HTTP/1.1 byte vectors with what a strict proxy must do with each.

Every vector is one connection. Its first request line is well-formed, so protocol detection takes
the connection for HTTP/1 (a first line that is not HTTP at all is relayed as opaque TCP by design;
request-line vectors therefore come second, behind a valid request, which is where a desync
would matter). Each vector says:

    outcome   "reject": the proxy answers 4xx/5xx with `x-weft-reason: bad request: ...` and
              `connection: close`, then closes; "normalize": the backend gets exactly `targets`
              (with `bodies`); "either": one of the two, with the same checks
    prefix    the targets the backend gets even when the vector is rejected (requests before
              the bad one)
    targets   what the backend gets when the vector is normalized (in order)
    bodies    {target: bytes} the backend must receive as that request's body

Hidden requests always target `/smuggled-<name>`: the backend must never frame one, and for a
rejected vector those bytes must never reach it at all.
"""

import base64
import hashlib

HOST = b"Host: backend\r\n"


def sha(data):
    return hashlib.sha256(data).hexdigest()


class Vector:
    def __init__(self, name, data, outcome="reject", targets=(), prefix=(), bodies=None, parts=None, what=""):
        self.name = name
        self.parts = parts or [data]
        self.outcome = outcome
        self.targets = list(targets)
        self.prefix = list(prefix)
        self.bodies = bodies or {}
        self.what = what

    def wire(self):
        n = max(len(self.targets), len(self.prefix) + 1)
        return {"name": self.name, "parts": [base64.b64encode(p).decode() for p in self.parts],
                "expect_responses": n, "max_responses": n + 2}


def smuggled(name):
    return b"GET /smuggled-%s HTTP/1.1\r\nHost: backend\r\n\r\n" % name.encode()


def post(name, fields, body, target=None):
    target = target or b"/v/" + name.encode()
    return b"POST " + target + b" HTTP/1.1\r\n" + HOST + fields + b"\r\n" + body


def first(name):
    """A valid request that opens the connection, ahead of a malformed second one."""
    return b"GET /v/%s/first HTTP/1.1\r\nHost: backend\r\n\r\n" % name.encode()


def corpus():
    v = []

    def add(*args, **kw):
        v.append(Vector(*args, **kw))

    def rej_post(name, fields, body, what):
        add(name, post(name, fields, body), "reject", what=what)

    def second(name, line_and_rest, what):
        add(name, first(name) + line_and_rest, "reject", prefix=["/v/%s/first" % name], what=what)

    # -- CL.TE / TE.CL: both framings at once.
    s = smuggled("cl-te")
    rej_post("cl-te", b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n" + s, "CL.TE")
    s = smuggled("te-cl")
    chunk = b"%x\r\n%s\r\n0\r\n\r\n" % (len(s), s)
    rej_post("te-cl", b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", chunk, "TE.CL")
    s = smuggled("te-cl-lower")
    rej_post("te-cl-lower", b"transfer-encoding: chunked\r\ncontent-length: 3\r\n", b"%x\r\n%s\r\n0\r\n\r\n" % (len(s), s),
             "TE.CL, lowercase names")
    rej_post("cl-zero-te", b"Content-Length: 0\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n" + smuggled("cl-zero-te"),
             "Content-Length: 0 with chunked")
    # -- TE.TE: obfuscated Transfer-Encoding beside a Content-Length.
    for name, te, what in (
            ("te-xchunked", b"Transfer-Encoding: xchunked\r\n", "unknown coding"),
            ("te-space-before-colon", b"Transfer-Encoding : chunked\r\n", "space before the colon"),
            ("te-tab-value", b"Transfer-Encoding:\tchunked\r\n", "tab as OWS"),
            ("te-double", b"Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n", "two TE fields, last not chunked"),
            ("te-chunked-identity", b"Transfer-Encoding: chunked, identity\r\n", "chunked not final"),
            ("te-obs-fold", b"Transfer-Encoding:\r\n chunked\r\n", "obs-fold value"),
            ("te-hidden-by-fold", b"X-Pad: y\r\n Transfer-Encoding: chunked\r\n", "TE inside a folded line"),
            ("te-quoted", b"Transfer-Encoding: \"chunked\"\r\n", "quoted coding"),
            ("te-chunked-twice", b"Transfer-Encoding: chunked, chunked\r\n", "chunked twice"),
            ("te-vtab", b"Transfer-Encoding:\x0bchunked\r\n", "vertical tab"),
            ("te-nul", b"Transfer-Encoding: chunked\x00\r\n", "NUL in the value"),
            ("te-nbsp", b"Transfer-Encoding: \xa0chunked\r\n", "obs-text before the coding"),
            ("te-name-no-colon", b"Transfer-Encoding\r\n: chunked\r\n", "name and value on two lines"),
            ("te-gzip-chunked", b"Transfer-Encoding: gzip, chunked\r\n", "a coding the proxy does not re-apply")):
        s = smuggled(name)
        body = b"0\r\n\r\n" + s
        rej_post(name, te + b"Content-Length: %d\r\n" % len(body), body, "TE.TE: " + what)
    s = smuggled("te-http10")
    add("te-http10", b"POST /v/te-http10 HTTP/1.0\r\n" + HOST + b"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
        b"%x\r\n%s\r\n0\r\n\r\n" % (len(s), s), "reject", what="TE in HTTP/1.0")
    # -- Content-Length games.
    for name, cl, what in (
            ("cl-dup-differ", b"Content-Length: 5\r\nContent-Length: 6\r\n", "two different values"),
            ("cl-list-differ", b"Content-Length: 5, 6\r\n", "a list of two values"),
            ("cl-plus", b"Content-Length: +5\r\n", "a sign"),
            ("cl-negative", b"Content-Length: -5\r\n", "negative"),
            ("cl-hex", b"Content-Length: 0x5\r\n", "hex"),
            ("cl-overflow", b"Content-Length: 18446744073709551621\r\n", "wraps 64 bits to 5"),
            ("cl-inner-space", b"Content-Length: 1 0\r\n", "a space inside"),
            ("cl-space-before-colon", b"Content-Length : 5\r\n", "space before the colon")):
        rej_post(name, cl, b"hello" + smuggled(name), "CL: " + what)
    add("cl-dup-same", post("cl-dup-same", b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"), "either",
        targets=["/v/cl-dup-same"], bodies={"/v/cl-dup-same": b"hello"}, what="two equal values")
    add("cl-leading-zeros", post("cl-leading-zeros", b"Content-Length: 005\r\n", b"hello"), "either",
        targets=["/v/cl-leading-zeros"], bodies={"/v/cl-leading-zeros": b"hello"}, what="005")
    # -- chunked bodies.
    for name, body, what in (
            ("chunk-size-junk", b"5x\r\nhello\r\n0\r\n\r\n", "junk after the size"),
            ("chunk-size-0x", b"0x5\r\nhello\r\n0\r\n\r\n", "0x prefix"),
            ("chunk-size-space", b" 5\r\nhello\r\n0\r\n\r\n", "leading space"),
            ("chunk-size-negative", b"-5\r\nhello\r\n0\r\n\r\n", "negative"),
            ("chunk-size-overflow", b"10000000000000005\r\nhello\r\n0\r\n\r\n", "17 hex digits (wraps to 5)"),
            ("chunk-size-lf", b"5\nhello\r\n0\r\n\r\n", "bare LF after the size"),
            ("chunk-ext-lf", b"5;ext\nhello\r\n0\r\n\r\n", "bare LF after an extension"),
            ("chunk-ext-bad", b"5;=x\r\nhello\r\n0\r\n\r\n", "an extension without a name"),
            ("chunk-missing-crlf", b"5\r\nhelloXX0\r\n\r\n", "data not followed by CRLF"),
            ("chunk-data-lf", b"5\r\nhello\n0\r\n\r\n", "data followed by a bare LF"),
            ("chunk-longer-than-size", b"3\r\nhello\r\n0\r\n\r\n", "more data than the size")):
        rej_post(name, b"Transfer-Encoding: chunked\r\n", body + smuggled(name), "chunked: " + what)
    add("chunk-ext", post("chunk-ext", b"Transfer-Encoding: chunked\r\n", b"2;a=1\r\nhe\r\n3;b=\"x;y\\\"z\"\r\nllo\r\n0;c\r\n\r\n"),
        "normalize", targets=["/v/chunk-ext"], bodies={"/v/chunk-ext": b"hello"}, what="chunk extensions (dropped)")
    fake = b"0\r\n\r\n" + smuggled("chunk-data-fake-end")
    add("chunk-data-fake-end", post("chunk-data-fake-end", b"Transfer-Encoding: chunked\r\n",
                                    b"%x\r\n%s\r\n0\r\n\r\n" % (len(fake), fake)),
        "normalize", targets=["/v/chunk-data-fake-end"], bodies={"/v/chunk-data-fake-end": fake},
        what="chunk data that looks like the end and a request")
    inner = smuggled("cl-body-request")
    add("cl-body-request", post("cl-body-request", b"Content-Length: %d\r\n" % len(inner), inner), "normalize",
        targets=["/v/cl-body-request"], bodies={"/v/cl-body-request": inner}, what="a request as CL body")
    add("chunk-trailer-cl", post("chunk-trailer-cl", b"Transfer-Encoding: chunked\r\n",
                                 b"5\r\nhello\r\n0\r\nContent-Length: 40\r\n\r\n"), "either",
        targets=["/v/chunk-trailer-cl"], bodies={"/v/chunk-trailer-cl": b"hello"}, what="Content-Length as a trailer")
    add("te-upper", post("te-upper", b"Transfer-Encoding: CHUNKED\r\n", b"5\r\nhello\r\n0\r\n\r\n"), "normalize",
        targets=["/v/te-upper"], bodies={"/v/te-upper": b"hello"}, what="coding names are case-insensitive")
    add("te-ows", post("te-ows", b"Transfer-Encoding:   chunked  \r\n", b"5\r\nhello\r\n0\r\n\r\n"), "normalize",
        targets=["/v/te-ows"], bodies={"/v/te-ows": b"hello"}, what="OWS around the value")
    s = smuggled("te-underscore")
    add("te-underscore", post("te-underscore", b"Transfer_Encoding: chunked\r\nContent-Length: %d\r\n" % len(s), s),
        "either", targets=["/v/te-underscore"], bodies={"/v/te-underscore": s},
        what="Transfer_Encoding is another field: CL frames it")
    # -- hop-by-hop tricks: Connection naming the framing fields.
    add("connection-lists-cl", post("connection-lists-cl", b"Connection: Content-Length\r\nContent-Length: 5\r\n", b"hello"),
        "normalize", targets=["/v/connection-lists-cl"], bodies={"/v/connection-lists-cl": b"hello"},
        what="Connection: Content-Length must not unframe the body")
    add("connection-lists-te", post("connection-lists-te", b"Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n",
                                    b"5\r\nhello\r\n0\r\n\r\n"),
        "normalize", targets=["/v/connection-lists-te"], bodies={"/v/connection-lists-te": b"hello"},
        what="Connection: Transfer-Encoding")
    # -- line endings, folding, NUL, field syntax.
    add("bare-lf-head", b"GET /v/bare-lf-head HTTP/1.1\nHost: backend\n\n" + smuggled("bare-lf-head"), "reject", what="LF-only head")
    rej_post("bare-lf-field", b"X-A: 1\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"hello", "LF inside the fields")
    rej_post("bare-cr-field", b"X-A: 1\rTransfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"hello", "CR inside the fields")
    rej_post("obs-fold", b"X-Long: a\r\n b\r\nContent-Length: 5\r\n", b"hello", "obs-fold")
    rej_post("nul-value", b"X-A: a\x00b\r\nContent-Length: 5\r\n", b"hello", "NUL in a value")
    rej_post("ctl-value", b"X-A: a\x01b\r\nContent-Length: 5\r\n", b"hello", "a control character in a value")
    rej_post("field-name-space", b"X A: b\r\nContent-Length: 5\r\n", b"hello", "a space in a field name")
    rej_post("field-no-colon", b"Content-Length 5\r\n", b"hello" + smuggled("field-no-colon"), "a field line without colon")
    add("ws-after-start-line", b"POST /v/ws-after-start-line HTTP/1.1\r\n Content-Length: 5\r\n" + HOST + b"\r\nhello",
        "reject", what="whitespace before the first field")
    # -- Host.
    add("missing-host", b"GET /v/missing-host HTTP/1.1\r\nX-A: b\r\n\r\n", "reject", what="HTTP/1.1 without Host")
    add("duplicate-host", b"GET /v/duplicate-host HTTP/1.1\r\nHost: backend\r\nHost: evil\r\n\r\n", "reject", what="two Host fields")
    add("host-list", b"GET /v/host-list HTTP/1.1\r\nHost: backend, evil\r\n\r\n", "reject", what="a list in Host")
    add("absolute-form-mismatch", b"GET http://evil/v/absolute-form-mismatch HTTP/1.1\r\nHost: backend\r\n\r\n", "either",
        targets=["/v/absolute-form-mismatch"], what="absolute-form naming another host")
    # -- request-line malformations, as the second request on a connection.
    for name, line, what in (
            ("method-at", b"G@T /v/method-at HTTP/1.1\r\n", "not a token"),
            ("method-lower", b"get /v/method-lower HTTP/1.1\r\n", "a standard method in lowercase"),
            ("target-space", b"GET /v/target-space /smuggled HTTP/1.1\r\n", "a space in the target"),
            ("target-del", b"GET /v/target-del\x7f HTTP/1.1\r\n", "DEL in the target"),
            ("target-relative", b"GET v/target-relative HTTP/1.1\r\n", "a target without /"),
            ("version-2", b"GET /v/version-2 HTTP/2.0\r\n", "HTTP/2.0 in an HTTP/1 line"),
            ("version-12", b"GET /v/version-12 HTTP/1.2\r\n", "HTTP/1.2"),
            ("version-lower", b"GET /v/version-lower http/1.1\r\n", "lowercase version"),
            ("double-space", b"GET  /v/double-space HTTP/1.1\r\n", "two spaces"),
            ("trailing-space", b"GET /v/trailing-space HTTP/1.1 \r\n", "a space before CRLF")):
        second(name, line + HOST + b"\r\n" + smuggled(name), what)
    # -- pipelining: a good request, then CL.TE.
    s = smuggled("pipeline-cl-te")
    add("pipeline-cl-te", b"GET /v/pipeline-cl-te/1 HTTP/1.1\r\nHost: backend\r\n\r\n"
        + post("pipeline-cl-te", b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n" + s, target=b"/v/pipeline-cl-te/2"),
        "reject", prefix=["/v/pipeline-cl-te/1"], what="a valid request, then CL.TE")
    add("pipeline-ok", b"GET /v/pipeline-ok/1 HTTP/1.1\r\nHost: backend\r\n\r\n"
        + post("pipeline-ok", b"Content-Length: 5\r\n", b"hello", target=b"/v/pipeline-ok/2")
        + post("pipeline-ok", b"Transfer-Encoding: chunked\r\n", b"3\r\nabc\r\n0\r\n\r\n", target=b"/v/pipeline-ok/3"),
        "normalize", targets=["/v/pipeline-ok/1", "/v/pipeline-ok/2", "/v/pipeline-ok/3"],
        bodies={"/v/pipeline-ok/2": b"hello", "/v/pipeline-ok/3": b"abc"}, what="three valid pipelined requests")
    # -- sizes.
    add("head-too-large", b"GET /v/head-too-large HTTP/1.1\r\n" + HOST + b"".join(b"X-F%d: %s\r\n" % (i, b"a" * 900) for i in range(90))
        + b"\r\n", "reject", what="a 80 KiB head")
    # -- split across segments: the parser must not decide on a partial head.
    s = smuggled("split-cl-te")
    whole = post("split-cl-te", b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n" + s)
    add("split-cl-te", None, "reject", parts=[whole[:40], whole[40:75], whole[75:]], what="CL.TE in three segments")
    return v


def targets_of(name, backend_requests):
    """The backend requests that belong to vector `name`, as origin-form targets."""
    out = []
    for r in backend_requests:
        target = r["target"]
        if "://" in target:
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        if target == "/v/" + name or target.startswith("/v/%s/" % name):
            out.append((target, r))
    return out
