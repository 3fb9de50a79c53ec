import HTTP
import Routing

/// Where a worker's new request ids and trace contexts come from (`RequestCorrelation`): a
/// SplitMix64 of its own, seeded once from the system's random source when the worker starts,
/// so ids are unique across proxies and workers (trace-ids must be, Trace Context §3.2.2.3)
/// while a request pays a few multiplications, not a getrandom(2) call. Owned by one worker
/// thread; tests pass one with a fixed seed.
final class RequestIDSource {
    var generator: SplitMix64

    /// A source whose ids are fixed by `seed` (tests).
    init(seed: UInt64) {
        generator = SplitMix64(seed: seed)
    }

    /// A source seeded from the system's random source (getrandom(2)).
    convenience init() {
        var system = SystemRandomNumberGenerator()
        self.init(seed: system.next())
    }

    /// Decides a request's ids from its head as forwarded (`ignoring`: its hop-by-hop fields).
    func correlate(_ headers: HTTPHeaders, ignoring: UInt64) -> RequestCorrelation {
        RequestCorrelation(inspecting: headers, ignoring: ignoring, using: &generator)
    }

    /// Ids for a request without a head, for its log line.
    func generate() -> RequestCorrelation {
        RequestCorrelation(generatingWith: &generator)
    }
}
