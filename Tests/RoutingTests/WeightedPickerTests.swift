import Routing
import Testing

@Suite struct RouteBackends {
    @Test(arguments: [[80, 20], [90, 10], [1, 1, 1], [0, 5, 0, 5], [0, 0, 1], [1_000_000, 1]] as [[UInt32]])
    func backendsGetTheirWeightedShareAndZeroNever(weights: [UInt32]) {
        let picker = WeightedPicker(weights: weights)
        var rng = SplitMix64(seed: 41)
        var histogram = Histogram(count: weights.count)
        for _ in 0..<10_000 { histogram.add(picker.pick(using: &rng)) }
        #expect(histogram.none == 0)
        let total = Double(weights.reduce(0, +))
        for backend in weights.indices {
            #expect(abs(histogram.share(backend) - Double(weights[backend]) / total) < 0.02)
            if weights[backend] == 0 { #expect(histogram.counts[backend] == 0) }
        }
    }

    @Test(arguments: [[], [0], [0, 0, 0]] as [[UInt32]])
    func nothingToPickWhenNoBackendHasWeight(weights: [UInt32]) {
        let picker = WeightedPicker(weights: weights)
        var rng = SplitMix64(seed: 42)
        #expect(picker.totalWeight == 0)
        #expect(picker.pick(using: &rng) == nil)
    }

    @Test func theSameSeedMakesTheSameSplit() {
        let picker = WeightedPicker(weights: [80, 20])
        var a = SplitMix64(seed: 43)
        var b = SplitMix64(seed: 43)
        #expect((0..<200).map { _ in picker.pick(using: &a) } == (0..<200).map { _ in picker.pick(using: &b) })
    }
}
