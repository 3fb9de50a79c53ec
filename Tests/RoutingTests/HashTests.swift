import Addresses
import Routing
import Testing

/// Expected values are the reference implementation's (libxxhash 0.8, `XXH64(bytes, len, seed)`),
/// covering each code path: empty, the 1-byte, 4-byte and 8-byte tails, and full 32-byte stripes.
@Test(arguments: [
    ([UInt8](), 0, 0xEF46_DB37_51D8_E999),
    (Array("a".utf8), 0, 0xD24E_C4F1_A98C_6E5B),
    (Array("abc".utf8), 0, 0x44BC_2CF5_AD77_0999),
    (Array("abcd".utf8), 1, 0xF5DC_BD6D_EE3C_9553),
    ([1, 2, 3, 4, 5, 6, 7, 8], 0, 0x814C_43EB_2964_6E14),
    (Array("10.0.0.1:8080".utf8), 0, 0xCB97_2177_068E_B685),
    (Array(0..<32), 0, 0xCBF5_9C51_16FF_32B4),
    (Array(0..<36), 0, 0xDDE0_EF85_E3AE_F05C),
    (Array("Nobody inspects the spammish repetition".utf8), 0, 0xFBCE_A83C_8A37_8BF1),
    (Array(0..<100), 0, 0x6AC1_E580_3216_6597),
    (Array(0..<100), 0x9E37_79B9_7F4A_7C15, 0x3B97_D91E_BA03_E785),
] as [([UInt8], UInt64, UInt64)])
func xxHash64MatchesTheReference(bytes: [UInt8], seed: UInt64, expected: UInt64) {
    #expect(StableHash.xxHash64(bytes, seed: seed) == expected)
}

@Test func xxHash64OfTextAndIntegersIsOfTheirBytes() {
    #expect(StableHash.xxHash64("10.0.0.1:8080") == 0xCB97_2177_068E_B685)
    #expect(StableHash.xxHash64("x10.0.0.1:8080".dropFirst()) == 0xCB97_2177_068E_B685)
    #expect(StableHash.xxHash64(UInt64(12345)) == 0xF641_F64A_B4EB_B803)
    #expect(StableHash.xxHash64(UInt64(12345), seed: 1) == 0x1634_8A9A_DFAD_C777)
}

@Test func addressesHashAsTheirNetworkBytes() throws {
    let v4 = try IPAddress(parsing: "10.0.0.1")
    #expect(StableHash.hash(v4) == 0x4956_3B50_83B9_9AFF)
    #expect(StableHash.hash(v4) == StableHash.xxHash64([10, 0, 0, 1] as [UInt8]))
    #expect(StableHash.hash(try IPAddress(parsing: "fd00::1")) == 0xCEDA_B9E3_F15C_0EA6)
    // A dual-stack listener may report the same client either way.
    #expect(StableHash.hash(try IPAddress(parsing: "::ffff:10.0.0.1")) == StableHash.hash(v4))
    #expect(StableHash.hash(try SocketAddress(parsing: "10.0.0.1:8080")) == 0xCB97_2177_068E_B685)
    #expect(StableHash.hash(try SocketAddress(parsing: "10.0.0.1:8080")) != StableHash.hash(try SocketAddress(parsing: "10.0.0.1:8081")))
}

@Test func mixSpreadsNeighbouringKeys() {
    // Sequential keys land all over the 64-bit range: every top-4-bit bucket gets about 1/16.
    var buckets = Array(repeating: 0, count: 16)
    for key in UInt64(0)..<16_000 { buckets[Int(StableHash.mix(key) >> 60)] += 1 }
    #expect(buckets.allSatisfy { abs($0 - 1000) < 150 })
    // One flipped input bit flips about half the output bits.
    let flipped = (0..<64).map { (StableHash.mix(42) ^ StableHash.mix(42 ^ (1 << UInt64($0)))).nonzeroBitCount }
    #expect(flipped.allSatisfy { (16...48).contains($0) })
}

@Test func splitMix64MatchesTheReferenceSequence() {
    var rng = SplitMix64(seed: 0)
    #expect([rng.next(), rng.next(), rng.next()] == [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F])
    var a = SplitMix64(seed: 7)
    var b = SplitMix64(seed: 7)
    #expect((0..<100).map { _ in a.next() } == (0..<100).map { _ in b.next() })
}
