/// A binary min-heap. swift-collections' `Heap` is a min-max heap: it keeps the largest element reachable too, so
/// an element larger than the rest (a deadline armed later than every other, an agent whose load just rose) climbs
/// the max levels on every insert. The core only ever needs the smallest, and its inserts are mostly of large
/// elements, which a plain binary heap takes in constant time on average. Public for the replay's scheduled
/// commands (KefuReplay), which need the same.
public struct BinaryHeap<Element: Comparable> {
    public private(set) var unordered: [Element]

    public init() { unordered = [] }

    /// A heap of these elements, built in linear time.
    public init(_ elements: [Element]) {
        unordered = elements
        var index = unordered.count / 2 - 1
        while index >= 0 {
            siftDown(from: index)
            index -= 1
        }
    }

    public var count: Int { unordered.count }
    public var isEmpty: Bool { unordered.isEmpty }
    public var min: Element? { unordered.first }

    public mutating func insert(_ element: Element) {
        unordered.append(element)
        var child = unordered.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard unordered[child] < unordered[parent] else { break }
            unordered.swapAt(child, parent)
            child = parent
        }
    }

    @discardableResult
    public mutating func removeMin() -> Element {
        let last = unordered.count - 1
        unordered.swapAt(0, last)
        let removed = unordered.removeLast()
        if !unordered.isEmpty { siftDown(from: 0) }
        return removed
    }

    private mutating func siftDown(from start: Int) {
        var parent = start
        let count = unordered.count
        while true {
            let left = 2 * parent + 1
            guard left < count else { return }
            let right = left + 1
            let smaller = right < count && unordered[right] < unordered[left] ? right : left
            guard unordered[smaller] < unordered[parent] else { return }
            unordered.swapAt(smaller, parent)
            parent = smaller
        }
    }
}

extension BinaryHeap: Sendable where Element: Sendable {}
