/// An array whose first two elements are stored inline, the rest in an ordinary array allocated
/// only when a third arrives. For the short per-connection queues of an HTTP/1 proxy (requests
/// awaiting responses, pieces of an outbox, exchanges in flight), which hold one or two entries
/// nearly always: they then cost no allocation, and a connection that goes idle keeps none
/// (`releaseSpareCapacity`), where an `Array` emptied with `keepingCapacity` kept its storage
/// for as long as the connection lived.
///
/// Inlinable throughout: the proxy uses it from another module on its hot path, where an
/// unspecialized generic call looks up type metadata on every access (measured: 30% more CPU
/// per request).
@frozen
public struct SmallArray<Element>: RandomAccessCollection, MutableCollection {
    /// The first two elements, inline.
    @usableFromInline var element0: Element?
    @usableFromInline var element1: Element?
    /// The others (empty unless `element1` is set).
    @usableFromInline var rest: [Element]

    /// An empty array.
    @inlinable
    public init() {
        element0 = nil
        element1 = nil
        rest = []
    }

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { element0 == nil ? 0 : element1 == nil ? 1 : 2 + rest.count }
    @inlinable public var isEmpty: Bool { element0 == nil }

    @inlinable
    public subscript(position: Int) -> Element {
        get {
            switch position {
            case 0: return element0!
            case 1: return element1!
            default: return rest[position - 2]
            }
        }
        set {
            precondition(position >= 0 && position < endIndex, "SmallArray index out of range")
            switch position {
            case 0: element0 = newValue
            case 1: element1 = newValue
            default: rest[position - 2] = newValue
            }
        }
    }

    @inlinable
    public mutating func append(_ element: Element) {
        if element0 == nil {
            element0 = element
        } else if element1 == nil {
            element1 = element
        } else {
            rest.append(element)
        }
    }

    /// Removes and returns the element at `position`, moving the later ones forward.
    @inlinable @discardableResult
    public mutating func remove(at position: Int) -> Element {
        precondition(position >= 0 && position < endIndex, "SmallArray index out of range")
        let removed = self[position]
        switch position {
        case 0:
            element0 = element1
            element1 = rest.isEmpty ? nil : rest.removeFirst()
        case 1:
            element1 = rest.isEmpty ? nil : rest.removeFirst()
        default:
            rest.remove(at: position - 2)
        }
        return removed
    }

    /// Removes the first element (the array must not be empty).
    @inlinable @discardableResult
    public mutating func removeFirst() -> Element { remove(at: 0) }

    /// Removes every element; with `keepingCapacity`, storage of a third and further elements
    /// is kept for the next ones.
    @inlinable
    public mutating func removeAll(keepingCapacity: Bool = false) {
        element0 = nil
        element1 = nil
        rest.removeAll(keepingCapacity: keepingCapacity)
    }

    /// Gives back the storage of a third and further elements when none is held (what an idle
    /// connection calls so that it holds no allocation).
    @inlinable
    public mutating func releaseSpareCapacity() {
        if rest.isEmpty, rest.capacity > 0 { rest = [] }
    }

    /// Whether storage beyond the two inline elements is allocated.
    @inlinable public var hasSpareStorage: Bool { rest.capacity > 0 }
}

extension SmallArray: Sendable where Element: Sendable {}
