import Testing
@testable import Reactor

@Suite struct TimerQueueTests {
    @Test func popsInDeadlineOrderAndOnlyWhenDue() {
        var timers = TimerQueue()
        timers.schedule(3, at: 300)
        timers.schedule(1, at: 100)
        timers.schedule(2, at: 200)
        #expect(timers.nextDeadline == 100)
        #expect(timers.popExpired(now: 99) == nil)
        #expect(timers.popExpired(now: 250) == 1)
        #expect(timers.popExpired(now: 250) == 2)
        #expect(timers.popExpired(now: 250) == nil)
        #expect(timers.count == 1)
        #expect(timers.popExpired(now: 300) == 3)
        #expect(timers.nextDeadline == nil)
    }

    @Test func reschedulingMovesTheOneDeadlineOfAKey() {
        var timers = TimerQueue()
        timers.schedule(7, at: 100)
        timers.schedule(8, at: 200)
        timers.schedule(7, at: 300) // later
        #expect(timers.count == 2)
        #expect(timers.deadline(of: 7) == 300)
        #expect(timers.popExpired(now: 1000) == 8)
        timers.schedule(7, at: 50) // earlier again
        #expect(timers.nextDeadline == 50)
        #expect(timers.popExpired(now: 1000) == 7)
        #expect(!timers.isScheduled(7))
    }

    @Test func cancelRemovesWithoutDisturbingOthers() {
        var timers = TimerQueue()
        for key in 0..<10 { timers.schedule(key, at: UInt64(1000 - key * 10)) }
        timers.cancel(4)
        timers.cancel(4) // twice is harmless
        timers.cancel(99) // never scheduled
        var popped: [Int] = []
        while let key = timers.popExpired(now: .max) { popped.append(key) }
        #expect(popped == [9, 8, 7, 6, 5, 3, 2, 1, 0])
    }

    /// Random operations checked against a simple model: the heap and its index stay consistent.
    @Test func matchesAModelUnderRandomOperations() {
        var generator = SplitMix(seed: 42)
        var timers = TimerQueue()
        var model: [Int: UInt64] = [:]
        var now: UInt64 = 0
        for _ in 0..<20_000 {
            let key = Int(generator.next() % 64)
            switch generator.next() % 4 {
            case 0, 1:
                let deadline = now + generator.next() % 1000
                timers.schedule(key, at: deadline)
                model[key] = deadline
            case 2:
                timers.cancel(key)
                model[key] = nil
            default:
                now += generator.next() % 50
                while let popped = timers.popExpired(now: now) {
                    let expected = model.filter { $0.value <= now }.min { $0.value < $1.value }!
                    #expect(model[popped] == expected.value, "popped a key whose deadline is not the earliest")
                    model[popped] = nil
                }
                #expect(model.values.allSatisfy { $0 > now })
            }
            #expect(timers.count == model.count)
            #expect(timers.nextDeadline == model.values.min())
        }
    }
}

/// A small deterministic generator so the randomized test is reproducible.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
