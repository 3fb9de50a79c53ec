import Testing
@testable import HTTP

@Suite struct SmallArrayTests {
    /// Every operation on a SmallArray matches the same on an Array, across the inline/spilled
    /// boundary.
    @Test(arguments: 0..<200)
    func behavesAsAnArray(seed: Int) {
        var state = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 &+ 1
        func next(_ bound: Int) -> Int {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Int(state % UInt64(bound))
        }
        var small = SmallArray<String>()
        var model: [String] = []
        for step in 0..<60 {
            switch next(6) {
            case 0, 1, 2:
                small.append("e\(step)")
                model.append("e\(step)")
            case 3 where !model.isEmpty:
                let position = next(model.count)
                #expect(small.remove(at: position) == model.remove(at: position))
            case 4 where !model.isEmpty:
                let position = next(model.count)
                small[position] = "s\(step)"
                model[position] = "s\(step)"
            case 5:
                if next(4) == 0 {
                    small.removeAll(keepingCapacity: next(2) == 0)
                    model.removeAll()
                }
                small.releaseSpareCapacity()
            default:
                break
            }
            #expect(Array(small) == model)
            #expect(small.count == model.count && small.isEmpty == model.isEmpty && small.first == model.first && small.last == model.last)
        }
    }

    @Test func twoElementsNeedNoStorageAndSpareStorageGoesWhenAsked() {
        var small = SmallArray<Int>()
        small.append(1)
        small.append(2)
        #expect(!small.hasSpareStorage)
        small.append(3)
        #expect(small.hasSpareStorage && Array(small) == [1, 2, 3])
        small.removeAll(keepingCapacity: true)
        #expect(small.isEmpty && small.hasSpareStorage)
        small.releaseSpareCapacity()
        #expect(!small.hasSpareStorage)
        small.append(4)
        small.append(5)
        small.append(6)
        #expect(small.removeFirst() == 4 && Array(small) == [5, 6])
        small.releaseSpareCapacity()
        #expect(!small.hasSpareStorage, "the third element moved inline")
    }
}
