import Routing
import Testing

@Test(arguments: [0, 1, 63, 64, 65, 130])
func availabilityCountsWhatIsMarked(count: Int) {
    var available = Availability(count: count)
    #expect(available.availableCount == count)
    #expect((0..<count).allSatisfy { available[$0] })
    let out = Set((0..<count).filter { $0 % 3 == 0 })
    for endpoint in out { available[endpoint] = false }
    // Marking twice changes nothing.
    for endpoint in out { available[endpoint] = false }
    #expect(available.availableCount == count - out.count)
    #expect((0..<count).allSatisfy { available[$0] == !out.contains($0) })
    #expect(available == Availability(count: count, unavailable: out))
    for endpoint in out { available[endpoint] = true }
    #expect(available == Availability(count: count))
}

/// Envoy: panic when the available share is below the threshold, never with threshold 0.
@Test(arguments: [
    (10, 5, 50, false), (10, 4, 50, true), (10, 0, 50, true), (10, 10, 100, false),
    (10, 9, 100, true), (10, 0, 0, false), (3, 1, 50, true), (3, 2, 50, false), (0, 0, 50, false),
])
func panicIsBelowTheThreshold(count: Int, available: Int, threshold: Int, panics: Bool) {
    let availability = Availability(count: count, unavailable: available..<count)
    #expect(availability.availableCount == available)
    #expect(availability.isPanicking(threshold: threshold) == panics)
}
