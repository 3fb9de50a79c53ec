import Addresses

/// Hash functions whose values never change between runs, processes or machines, for consistent
/// hashing: two sidecars must map the same header, cookie or source address to the same endpoint,
/// and a restart must not move every session. (Swift's `Hasher` is seeded per process, so it
/// cannot serve.)
///
/// The byte hash is xxHash64 (github.com/Cyan4973/xxHash, XXH64), the hash Envoy uses for
/// `ring_hash` and `maglev`; values equal the reference implementation's `XXH64(bytes, len, seed)`.
public enum StableHash {
    /// xxHash64 of `bytes` with `seed` (0 unless the caller needs independent hashes of the same
    /// bytes, as Maglev does for its offset and skip). Reads the bytes once; allocates nothing.
    public static func xxHash64(_ bytes: some Sequence<UInt8>, seed: UInt64 = 0) -> UInt64 {
        var state = XXHash64(seed: seed)
        for byte in bytes { state.update(byte) }
        return state.finish()
    }

    /// xxHash64 of the UTF-8 bytes of `text` (a header value, a cookie).
    public static func xxHash64(_ text: some StringProtocol, seed: UInt64 = 0) -> UInt64 {
        xxHash64(text.utf8, seed: seed)
    }

    /// xxHash64 of the 8 little-endian bytes of `value`.
    public static func xxHash64(_ value: UInt64, seed: UInt64 = 0) -> UInt64 {
        var state = XXHash64(seed: seed)
        state.update(littleEndian: value)
        return state.finish()
    }

    /// A hash of an IP address for source-IP affinity: xxHash64 of its network-order bytes (4 for
    /// IPv4, 16 for IPv6). An IPv4-mapped IPv6 address hashes as the IPv4 address it carries, so a
    /// client keeps its endpoint whichever way a dual-stack listener reports it.
    public static func hash(_ address: IPAddress) -> UInt64 {
        var state = XXHash64(seed: 0)
        switch address.unmapped {
        case .v4(let v4):
            for shift in stride(from: 24, through: 0, by: -8) { state.update(UInt8(truncatingIfNeeded: v4.value >> UInt32(shift))) }
        case .v6(let v6):
            for shift in stride(from: 56, through: 0, by: -8) { state.update(UInt8(truncatingIfNeeded: v6.high >> UInt64(shift))) }
            for shift in stride(from: 56, through: 0, by: -8) { state.update(UInt8(truncatingIfNeeded: v6.low >> UInt64(shift))) }
        }
        return state.finish()
    }

    /// A stable identity for an endpoint on a hash ring or Maglev table: xxHash64 of its text
    /// (`10.0.0.1:8080`, `[fd00::1]:8080`), as Envoy hashes a host's address. Endpoints keep
    /// their identity when others come and go, which is what limits how many keys move.
    public static func hash(_ address: SocketAddress) -> UInt64 {
        xxHash64(address.unmapped.description)
    }

    /// A bijective mix of 64 bits (the SplitMix64 finaliser, Stafford's variant 13): every input
    /// bit affects every output bit. Balancers mix hash keys with it so that keys from a weak
    /// source (sequential ids, an address as an integer) still spread over a ring or table.
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Streaming XXH64: bytes go into a 32-byte stripe held in four words, and each full stripe into
/// the four accumulators, so any sequence hashes without being copied into an array first.
struct XXHash64 {
    private static let prime1: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let prime3: UInt64 = 0x1656_67B1_9E37_79F9
    private static let prime4: UInt64 = 0x85EB_CA77_C2B2_AE63
    private static let prime5: UInt64 = 0x27D4_EB2F_1656_67C5

    private let seed: UInt64
    private var acc1: UInt64, acc2: UInt64, acc3: UInt64, acc4: UInt64
    private var lane0: UInt64 = 0, lane1: UInt64 = 0, lane2: UInt64 = 0, lane3: UInt64 = 0
    private var buffered = 0
    private var length: UInt64 = 0

    init(seed: UInt64) {
        self.seed = seed
        acc1 = seed &+ Self.prime1 &+ Self.prime2
        acc2 = seed &+ Self.prime2
        acc3 = seed
        acc4 = seed &- Self.prime1
    }

    mutating func update(_ byte: UInt8) {
        // Lanes are read little-endian: the first byte of a lane is its low byte.
        let shifted = UInt64(byte) << UInt64((buffered & 7) * 8)
        switch buffered >> 3 {
        case 0: lane0 |= shifted
        case 1: lane1 |= shifted
        case 2: lane2 |= shifted
        default: lane3 |= shifted
        }
        buffered += 1
        length += 1
        if buffered == 32 {
            acc1 = Self.round(acc1, lane0)
            acc2 = Self.round(acc2, lane1)
            acc3 = Self.round(acc3, lane2)
            acc4 = Self.round(acc4, lane3)
            (lane0, lane1, lane2, lane3) = (0, 0, 0, 0)
            buffered = 0
        }
    }

    mutating func update(littleEndian value: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { update(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    func finish() -> UInt64 {
        var hash: UInt64
        if length >= 32 {
            hash = rotate(acc1, 1) &+ rotate(acc2, 7) &+ rotate(acc3, 12) &+ rotate(acc4, 18)
            hash = Self.merge(hash, acc1)
            hash = Self.merge(hash, acc2)
            hash = Self.merge(hash, acc3)
            hash = Self.merge(hash, acc4)
        } else {
            hash = seed &+ Self.prime5
        }
        hash &+= length
        // The tail (fewer than 32 bytes): whole 8-byte lanes, then one 4-byte word, then bytes.
        var remaining = buffered
        var laneIndex = 0
        while remaining >= 8 {
            hash ^= Self.round(0, lane(laneIndex))
            hash = rotate(hash, 27) &* Self.prime1 &+ Self.prime4
            remaining -= 8
            laneIndex += 1
        }
        var rest = remaining > 0 ? lane(laneIndex) : 0
        if remaining >= 4 {
            hash ^= (rest & 0xFFFF_FFFF) &* Self.prime1
            hash = rotate(hash, 23) &* Self.prime2 &+ Self.prime3
            rest >>= 32
            remaining -= 4
        }
        while remaining > 0 {
            hash ^= (rest & 0xFF) &* Self.prime5
            hash = rotate(hash, 11) &* Self.prime1
            rest >>= 8
            remaining -= 1
        }
        hash ^= hash >> 33
        hash &*= Self.prime2
        hash ^= hash >> 29
        hash &*= Self.prime3
        hash ^= hash >> 32
        return hash
    }

    private func lane(_ index: Int) -> UInt64 {
        switch index {
        case 0: return lane0
        case 1: return lane1
        case 2: return lane2
        default: return lane3
        }
    }

    private static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
        rotate(acc &+ input &* prime2, 31) &* prime1
    }

    private static func merge(_ hash: UInt64, _ acc: UInt64) -> UInt64 {
        (hash ^ round(0, acc)) &* prime1 &+ prime4
    }
}

private func rotate(_ value: UInt64, _ bits: UInt64) -> UInt64 {
    (value << bits) | (value >> (64 - bits))
}
