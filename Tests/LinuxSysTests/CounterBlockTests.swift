import Testing
@testable import LinuxSys

@Suite struct CounterBlockTests {
    @Test func oneWriterManyReadsSeeMonotonicValuesAndTheExactTotal() throws {
        let counters = CounterBlock(count: 3)
        let writer = try OSThread.spawn(name: "counter-writer") {
            for _ in 0..<1_000_000 { counters.add(1) }
            counters.add(2, 42)
        }
        var last: UInt64 = 0
        var monotonic = true
        for _ in 0..<10_000 {
            let value = counters.load(1)
            if value < last { monotonic = false }
            last = value
        }
        writer.join()
        #expect(monotonic)
        #expect(counters.load(1) == 1_000_000)
        #expect(counters.load(2) == 42)
        #expect(counters.load(0) == 0)
    }
}
