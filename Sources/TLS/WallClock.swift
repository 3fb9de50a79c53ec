import Glibc
import LinuxSys

/// Wall-clock time for certificate validity, which is defined in UTC seconds (RFC 5280 §4.1.2.5).
enum WallClock {
    static func now() -> Int { Clock.wallClock().seconds }

    /// `2026-11-28T01:02:03Z`.
    static func format(_ seconds: Int) -> String { Clock.timestamp(seconds: seconds) }

    /// timegm(3): broken-down UTC time to seconds since the epoch.
    static func seconds(_ parts: inout tm) -> Int { Int(timegm(&parts)) }
}
