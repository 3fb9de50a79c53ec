/// Deadlines keyed by small integers (a worker's connection slots), at most one per key, in an
/// indexed binary min-heap: scheduling, moving and cancelling are O(log n) and a closed
/// connection leaves nothing behind (a lazy-deletion heap would keep an entry per closed
/// connection until its idle deadline, growing with churn).
public struct TimerQueue: Sendable {
    private struct Entry: Sendable {
        var deadline: UInt64
        var key: Int
    }

    private var heap: [Entry] = []
    /// positions[key] = index in `heap`, or -1 when the key has no deadline.
    private var positions: [Int] = []

    public init() {}

    /// How many deadlines are scheduled.
    public var count: Int { heap.count }

    /// The earliest deadline, if any.
    public var nextDeadline: UInt64? { heap.first?.deadline }

    /// Whether `key` has a deadline.
    public func isScheduled(_ key: Int) -> Bool { key < positions.count && positions[key] >= 0 }

    /// The deadline of `key`, if scheduled.
    public func deadline(of key: Int) -> UInt64? {
        guard isScheduled(key) else { return nil }
        return heap[positions[key]].deadline
    }

    /// Sets (or moves) the deadline of `key`.
    public mutating func schedule(_ key: Int, at deadline: UInt64) {
        precondition(key >= 0, "timer keys are non-negative")
        if key >= positions.count {
            positions.append(contentsOf: repeatElement(-1, count: key - positions.count + 1))
        }
        let position = positions[key]
        if position >= 0 {
            let earlier = deadline < heap[position].deadline
            heap[position].deadline = deadline
            if earlier { siftUp(position) } else { siftDown(position) }
        } else {
            heap.append(Entry(deadline: deadline, key: key))
            positions[key] = heap.count - 1
            siftUp(heap.count - 1)
        }
    }

    /// Removes the deadline of `key`, if any.
    public mutating func cancel(_ key: Int) {
        guard isScheduled(key) else { return }
        remove(at: positions[key])
    }

    /// Removes and returns the key of the earliest deadline if it is at or before `now`.
    public mutating func popExpired(now: UInt64) -> Int? {
        guard let first = heap.first, first.deadline <= now else { return nil }
        remove(at: 0)
        return first.key
    }

    private mutating func remove(at position: Int) {
        let key = heap[position].key
        positions[key] = -1
        let last = heap.removeLast()
        guard position < heap.count else { return }
        heap[position] = last
        positions[last.key] = position
        siftUp(position)
        siftDown(positions[last.key])
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].deadline < heap[parent].deadline else { break }
            swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { return }
            let right = left + 1
            var smallest = left
            if right < heap.count, heap[right].deadline < heap[left].deadline { smallest = right }
            guard heap[smallest].deadline < heap[parent].deadline else { return }
            swapAt(parent, smallest)
            parent = smallest
        }
    }

    private mutating func swapAt(_ a: Int, _ b: Int) {
        heap.swapAt(a, b)
        positions[heap[a].key] = a
        positions[heap[b].key] = b
    }
}
