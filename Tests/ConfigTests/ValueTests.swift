import Config
import Testing

@Suite("Durations and sizes")
struct ValueTests {
    static let validDurations: [(String, Duration)] = [
        ("300ms", .milliseconds(300)),
        ("5s", .seconds(5)),
        ("1m30s", .seconds(90)),
        ("1h", .seconds(3600)),
        ("2h45m", .seconds(2 * 3600 + 45 * 60)),
        ("1ns", .nanoseconds(1)),
        ("1us", .microseconds(1)),
        ("1\u{00B5}s", .microseconds(1)), // micro sign
        ("1\u{03BC}s", .microseconds(1)), // Greek mu
        ("0s", .zero),
        ("0h0m0s", .zero),
        ("1.5h", .seconds(5400)),
        ("1.5s", .milliseconds(1500)),
        ("0.001s", .milliseconds(1)),
        ("2.000000001s", .nanoseconds(2_000_000_001)),
        ("1h1m1s1ms1us1ns", .nanoseconds(3_661_001_001_001)),
        ("1s1h", .seconds(3601)), // Go accepts units in any order
        ("007s", .seconds(7)),
        ("2562047h", .seconds(2_562_047 * 3600)),
        ("9223372036854775807ns", .nanoseconds(Int64.max)),
    ]

    @Test("valid durations", arguments: validDurations)
    func validDuration(text: String, expected: Duration) throws {
        #expect(try parseDuration(text) == expected)
    }

    static let invalidDurations: [(String, String)] = [
        ("", "empty duration; write a number and a unit, such as 5s"),
        ("5", "\"5\" has no unit; write 5s for seconds (units: ns, us, µs, ms, s, m, h)"),
        ("0", "\"0\" has no unit; write 0s for seconds"),
        ("1.5", "\"1.5\" has no unit"),
        ("1m30", "\"1m30\" has no unit"),
        ("-5s", "\"-5s\" is negative; a duration must be 0s or more"),
        ("+5s", "\"+5s\" has a sign; write the duration without '+'"),
        ("5sec", "\"5sec\" has the unknown unit \"sec\"; units are ns, us, µs, ms, s, m, h"),
        ("5S", "has the unknown unit \"S\""),
        ("5 s", "has the unknown unit \" s\""),
        ("1d", "has the unknown unit \"d\""),
        ("s", "\"s\" has 's' where a number was expected"),
        ("1hm", "\"1hm\" has the unknown unit \"hm\""),
        (".5s", "\".5s\" has a malformed number; write digits on both sides of '.', such as 1.5s"),
        ("1.s", "\"1.s\" has a malformed number"),
        ("1..5s", "\"1..5s\" has a malformed number"),
        ("2562048h", "\"2562048h\" is too large; the longest duration is 2562047h (about 292 years)"),
        ("9223372036854775808ns", "is too large"),
        ("99999999999999999999s", "is too large"),
        ("2562047h47m17s", "is too large"),
    ]

    @Test("invalid durations say why", arguments: invalidDurations)
    func invalidDuration(text: String, reason: String) {
        #expect {
            _ = try parseDuration(text)
        } throws: { error in
            (error as? ConfigValueError)?.reason.contains(reason) == true
        }
    }

    static let validSizes: [(String, Int)] = [
        ("0", 0), ("4096", 4096), ("65536", 65536), ("64Ki", 65536), ("256Ki", 262_144), ("1Mi", 1_048_576),
        ("16Mi", 16_777_216), ("2Gi", 2_147_483_648), ("0Ki", 0), ("0001Ki", 1024),
        ("9223372036854775807", Int.max),
    ]

    @Test("valid sizes", arguments: validSizes)
    func validSize(text: String, expected: Int) throws {
        #expect(try parseByteSize(text) == expected)
    }

    static let invalidSizes: [(String, String)] = [
        ("", "empty size; write a number of bytes such as 65536 or 64Ki"),
        ("Ki", "\"Ki\" is not a size"),
        ("-1", "\"-1\" is not a size"),
        (" 1", "\" 1\" is not a size"),
        ("64K", "\"64K\" has the unknown suffix \"K\"; write whole bytes, or use Ki, Mi or Gi (powers of 1024)"),
        ("64k", "has the unknown suffix \"k\""),
        ("64KB", "has the unknown suffix \"KB\""),
        ("64KiB", "has the unknown suffix \"KiB\""),
        ("1Ti", "has the unknown suffix \"Ti\""),
        ("1.5Mi", "has the unknown suffix \".5Mi\""),
        ("64 Ki", "has the unknown suffix \" Ki\""),
        ("9223372036854775808", "\"9223372036854775808\" is too large"),
        ("9999999999Gi", "\"9999999999Gi\" is too large"),
    ]

    @Test("invalid sizes say why", arguments: invalidSizes)
    func invalidSize(text: String, reason: String) {
        #expect {
            _ = try parseByteSize(text)
        } throws: { error in
            (error as? ConfigValueError)?.reason.contains(reason) == true
        }
    }
}

@Suite struct DurationFormattingTests {
    @Test(arguments: [
        (Duration.seconds(0), "0s"), (.seconds(5), "5s"), (.seconds(30), "30s"), (.seconds(90), "1m30s"),
        (.seconds(3600), "1h"), (.seconds(9900), "2h45m"), (.milliseconds(250), "250ms"),
        (.milliseconds(1500), "1500ms"), (.microseconds(7), "7us"), (.nanoseconds(3), "3ns"),
        (.seconds(3661), "1h1m1s"),
    ])
    func writesWhatParseDurationReads(_ duration: Duration, _ text: String) throws {
        #expect(formatDuration(duration) == text)
        #expect(try parseDuration(text) == duration)
    }
}
