// Request prefixes captured from real clients on loopback: a Python listener on 127.0.0.1 recorded
// the first bytes each client sent on a fresh connection (up to 4 KiB, or until it paused for
// 500 ms). Hex, as DetectTests declares no resources.
enum CapturedRequests {
    /// `curl http://127.0.0.1:PORT/api/items?id=1` (curl 7.88.1).
    static let curlGet = hexBytes("""
        474554202f6170692f6974656d733f69643d3120485454502f312e310d0a486f73743a203132372e302e302e313a3138
        3039390d0a557365722d4167656e743a206375726c2f372e38382e310d0a4163636570743a202a2f2a0d0a0d0a
        """)

    /// `curl -X POST -H 'content-type: application/json' -d '{"a":1}'` (curl 7.88.1): headers and body in one segment.
    static let curlPost = hexBytes("""
        504f5354202f6f726465727320485454502f312e310d0a486f73743a203132372e302e302e313a31383039390d0a5573
        65722d4167656e743a206375726c2f372e38382e310d0a4163636570743a202a2f2a0d0a636f6e74656e742d74797065
        3a206170706c69636174696f6e2f6a736f6e0d0a436f6e74656e742d4c656e6774683a20370d0a0d0a7b2261223a317d
        """)

    /// `curl --http2-prior-knowledge http://127.0.0.1:PORT/` (curl 7.88.1, nghttp2 1.52): the preface, then SETTINGS, WINDOW_UPDATE and HEADERS frames.
    static let curlHTTP2PriorKnowledge = hexBytes("""
        505249202a20485454502f322e300d0a0d0a534d0d0a0d0a000012040000000000000300000064000402000000000200
        00000000000408000000000001ff000100001f010500000001828486418b089d5c0b8170dc0bc07dff7a8825b650c3ab
        bcf2e153032a2f2a
        """)

    /// `urllib.request.urlopen` (Python 3.11).
    static let pythonURLLib = hexBytes("""
        474554202f6865616c746820485454502f312e310d0a4163636570742d456e636f64696e673a206964656e746974790d
        0a486f73743a203132372e302e302e313a31383039390d0a557365722d4167656e743a20507974686f6e2d75726c6c69
        622f332e31310d0a436f6e6e656374696f6e3a20636c6f73650d0a0d0a
        """)

    /// `requests.get` (requests 2.34).
    static let pythonRequests = hexBytes("""
        474554202f7820485454502f312e310d0a486f73743a203132372e302e302e313a31383039390d0a557365722d416765
        6e743a20707974686f6e2d72657175657374732f322e33342e320d0a4163636570742d456e636f64696e673a20677a69
        702c206465666c6174650d0a4163636570743a202a2f2a0d0a436f6e6e656374696f6e3a206b6565702d616c6976650d
        0a0d0a
        """)

    /// `http.client.HTTPConnection.request('PUT', '/v1/k', body=b'v')` (Python 3.11).
    static let pythonHTTPClientPut = hexBytes("""
        505554202f76312f6b20485454502f312e310d0a486f73743a203132372e302e302e313a31383039390d0a4163636570
        742d456e636f64696e673a206964656e746974790d0a436f6e74656e742d4c656e6774683a20310d0a0d0a76
        """)

    /// `wrk -t1 -c1 http://127.0.0.1:PORT/bench` (wrk 4.1.0): the smallest request line and Host.
    static let wrk = hexBytes("""
        474554202f62656e636820485454502f312e310d0a486f73743a203132372e302e302e313a31383039390d0a0d0a
        """)

    /// `curl -x http://127.0.0.1:PORT http://example.com/proxied` (curl 7.88.1): an absolute-form target.
    static let curlThroughProxy = hexBytes("""
        47455420687474703a2f2f6578616d706c652e636f6d2f70726f7869656420485454502f312e310d0a486f73743a2065
        78616d706c652e636f6d0d0a557365722d4167656e743a206375726c2f372e38382e310d0a4163636570743a202a2f2a
        0d0a50726f78792d436f6e6e656374696f6e3a204b6565702d416c6976650d0a0d0a
        """)

    /// `curl -X OPTIONS --request-target '*'` (curl 7.88.1): the asterisk-form target.
    static let curlOptionsAsterisk = hexBytes("""
        4f5054494f4e53202a20485454502f312e310d0a486f73743a203132372e302e302e313a31383039390d0a557365722d
        4167656e743a206375726c2f372e38382e310d0a4163636570743a202a2f2a0d0a0d0a
        """)

    /// `ssh -p PORT x@127.0.0.1` (OpenSSH 9.2p1): the client's identification string, which a client sends first.
    static let sshBanner = hexBytes("""
        5353482d322e302d4f70656e5353485f392e3270312044656269616e2d322b646562313275360d0a
        """)

    /// `PING` as RESP, what redis clients send (sent with nc).
    static let redisPing = hexBytes("""
        2a310d0a24340d0a50494e470d0a
        """)

    /// `psql "host=127.0.0.1 port=PORT user=app dbname=shop sslmode=disable"` (psql 15.18): the StartupMessage.
    static let postgresStartup = hexBytes("""
        000000360003000075736572006170700064617461626173650073686f70006170706c69636174696f6e5f6e616d6500
        7073716c0000
        """)
}
