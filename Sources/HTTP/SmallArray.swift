/// An array whose first two elements are stored inline, the rest in an ordinary array allocated
/// only when a third arrives. For the short per-connection queues of an HTTP/1 proxy (requests
/// awaiting responses, pieces of an outbox, exchanges in flight), which hold one or two entries
/// nearly always: they then cost no allocation, and a connection that goes idle keeps none
/// (`releaseSpareCapacity`), where an `Array` emptied with `keepingCapacity` kept its storage
/// for as long as the connection lived.
public struct SmallArray<Element>: RandomAccessCollection, MutableCollection {
    private var first: Element?
    private var second: Element?
    /// Elements 2 and after. Empty unless `second` is set.
    private var rest: [Element] = []

    /// An empty array.
    public init() {}

    public var startIndex: Int { 0 }
    public var endIndex: Int { first == nil ? 0 : second == nil ? 1 : 2 + rest.count }
    public var isEmpty: Bool { first == nil }

    public subscript(position: Int) -> Element {
        get {
            switch position {
            case 0: return first!
            case 1: return second!
            default: return rest[position - 2]
            }
        }
        set {
            precondition(position >= 0 && position < endIndex, "SmallArray index out of range")
            switch position {
            case 0: first = newValue
            case 1: second = newValue
            default: rest[position - 2] = newValue
            }
        }
    }

    public mutating func append(_ element: Element) {
        if first == nil {
            first = element
        } else if second == nil {
            second = element
        } else {
            rest.append(element)
        }
    }

    /// Removes and returns the element at `position`, moving the later ones forward.
    @discardableResult
    public mutating func remove(at position: Int) -> Element {
        precondition(position >= 0 && position < endIndex, "SmallArray index out of range")
        let removed = self[position]
        switch position {
        case 0:
            first = second
            second = rest.isEmpty ? nil : rest.removeFirst()
        case 1:
            second = rest.isEmpty ? nil : rest.removeFirst()
        default:
            rest.remove(at: position - 2)
        }
        return removed
    }

    /// Removes the first element (the array must not be empty).
    @discardableResult
    public mutating func removeFirst() -> Element { remove(at: 0) }

    /// Removes every element; with `keepingCapacity`, storage of a third and further elements
    /// is kept for the next ones.
    public mutating func removeAll(keepingCapacity: Bool = false) {
        first = nil
        second = nil
        rest.removeAll(keepingCapacity: keepingCapacity)
    }

    /// Gives back the storage of a third and further elements when none is held (what an idle
    /// connection calls so that it holds no allocation).
    public mutating func releaseSpareCapacity() {
        if rest.isEmpty, rest.capacity > 0 { rest = [] }
    }

    /// Whether storage beyond the two inline elements is allocated.
    public var hasSpareStorage: Bool { rest.capacity > 0 }
}

extension SmallArray: Sendable where Element: Sendable {}
