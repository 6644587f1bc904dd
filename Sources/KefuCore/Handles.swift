/// Dense numbers for the skills (and stores) the core has met, so that the roster and the queue index arrays instead
/// of hashing names several times per decision. A number is handed out on first sight and never reused or changed
/// (a skill a reload drops keeps its number), so every structure holding one stays valid across reloads.
struct NameNumbers<Name: Hashable & Sendable>: Sendable {
    private(set) var names: [Name] = []
    private var numbers: [Name: Int] = [:]

    func number(of name: Name) -> Int? { numbers[name] }

    /// The name's number, handing out the next one to a name not met before.
    mutating func intern(_ name: Name) -> Int {
        if let number = numbers[name] { return number }
        names.append(name)
        numbers[name] = names.count - 1
        return names.count - 1
    }

    subscript(number: Int) -> Name { names[number] }
}

typealias SkillNumbers = NameNumbers<Skill>

/// A set of small numbers (skill numbers, agent handles) that is cheap to add to on every decision: a flag per
/// number and the list of those set, no hashing.
struct NumberSet: Sendable {
    private var flags: [Bool] = []
    /// The numbers in the set, in the order they were added.
    private(set) var members: [Int] = []

    var isEmpty: Bool { members.isEmpty }

    mutating func insert(_ number: Int) {
        if number >= flags.count { flags += repeatElement(false, count: number + 1 - flags.count) }
        guard !flags[number] else { return }
        flags[number] = true
        members.append(number)
    }

    /// Empties the set, keeping its storage.
    mutating func removeAll() {
        for number in members { flags[number] = false }
        members.removeAll(keepingCapacity: true)
    }
}

/// Stores by the number of their queue and roster lane. Only stores that agents list get a lane of their own (the
/// configuration bounds them; a store named by a buyer cannot grow the queue's layout): `anyStore` (0) holds the
/// conversations that name no store (any agent may serve them) and, in the roster, the agents who serve every store;
/// `unlisted` (1) the conversations naming a store no agent lists (only agents serving every store may take them);
/// a listed store's lane is its `NameNumbers` number + 2.
struct StoreLanes: Sendable {
    static let anyStore = 0
    static let unlisted = 1

    private var numbers = NameNumbers<String>()

    /// A conversation's lane. A store listed later (a reload) gets its own lane then: the reload moves the
    /// conversations naming it.
    func lane(of store: String?) -> Int {
        guard let store else { return Self.anyStore }
        return numbers.number(of: store).map { $0 + 2 } ?? Self.unlisted
    }

    /// The lanes of the stores an agent serves (nil: every store), sorted; listing a store gives it a lane.
    mutating func lanes(of stores: Set<String>?) -> [Int]? {
        stores.map { $0.map { numbers.intern($0) + 2 }.sorted() }
    }
}

/// The `[[skill]]` rules by skill number, derived from the policy at every (re)configuration, so that a decision
/// reads a skill's required level and fallbacks by index instead of hashing its name for every agent and queue
/// entry it looks at. Skills without rules of their own read the defaults.
struct SkillTable {
    struct Entry {
        var minLevel = 1
        /// Numbers of the skills whose agents may serve once widened.
        var fallback: [Int] = []
        var widenAfter: Milliseconds?
        var maxQueue: Int?
    }

    private var entries: [Entry] = []

    init() {}

    init(_ rules: [Skill: SkillRule], numbers: inout SkillNumbers) {
        for rule in rules.values.sorted(by: { $0.skill < $1.skill }) {
            let number = numbers.intern(rule.skill)
            if entries.count <= number { entries += Array(repeating: Entry(), count: number + 1 - entries.count) }
            entries[number] = Entry(
                minLevel: rule.minLevel, fallback: rule.fallback.map { numbers.intern($0) },
                widenAfter: rule.widenAfter, maxQueue: rule.maxQueue)
        }
    }

    func minLevel(of skill: Int) -> Int { skill < entries.count ? entries[skill].minLevel : 1 }
    func fallback(of skill: Int) -> [Int] { skill < entries.count ? entries[skill].fallback : [] }
    func widenAfter(of skill: Int) -> Milliseconds? { skill < entries.count ? entries[skill].widenAfter : nil }
    func maxQueue(of skill: Int) -> Int? { skill < entries.count ? entries[skill].maxQueue : nil }
}

/// Slots for values found by a dense index, in memory this class owns, so the tables below can lend a slot by
/// address (`unsafeAddress`): a read borrows the value in place and a change is made in place, without the copy an
/// array's getter makes or the frame a coroutine accessor allocates when it is not inlined. Copy on write: a table
/// copies its storage before a change when the storage is shared (as `Array` does with its buffer).
final class SlotStorage<Element>: @unchecked Sendable {
    // @unchecked: the slots are only written through a table that holds the sole reference (checked with
    // `isKnownUniquelyReferenced` before every change), so a storage shared between copies is never mutated.
    private(set) var base: UnsafeMutablePointer<Element?>
    private(set) var count: Int
    private var capacity: Int

    init(capacity: Int = 16) {
        self.capacity = capacity
        base = .allocate(capacity: capacity)
        count = 0
    }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }

    /// Adds an empty slot, returning its index. The only operation that may move the slots.
    func appendEmpty() -> Int {
        if count == capacity {
            let larger = UnsafeMutablePointer<Element?>.allocate(capacity: capacity * 2)
            larger.moveInitialize(from: base, count: count)
            base.deallocate()
            base = larger
            capacity *= 2
        }
        (base + count).initialize(to: nil)
        count += 1
        return count - 1
    }

    /// The elements present, in slot order, skipping slot 0 (the tables' permanently empty one).
    func present() -> AnyIterator<Element> {
        var next = 1
        return AnyIterator {
            while next < self.count {
                defer { next += 1 }
                if let element = self.base[next] { return element }
            }
            return nil
        }
    }

    func copy() -> SlotStorage {
        let copy = SlotStorage(capacity: capacity)
        copy.base.initialize(from: base, count: count)
        copy.count = count
        return copy
    }
}

/// The configured agents' live states, each under a dense handle (its index), found by id once per command and by
/// handle on the routing paths (roster walks, capacity offers). A removed agent leaves an empty slot and gets the
/// same handle back if a later reload adds it again, so handles held by the roster never point at another agent.
/// Slot 0 is always empty: an unknown id reads as nil there. Agents are added and removed with `add` and `remove`,
/// never by assigning through the subscript.
struct AgentTable: Sequence {
    private var handles: [AgentID: Int] = [:]
    private var storage = SlotStorage<RoutingCore.AgentState>()
    private(set) var count = 0

    init() { _ = storage.appendEmpty() }

    func handle(of id: AgentID) -> Int? { handles[id] }

    /// Reads an agent where it lies. The closure gets it `inout` only so that it is not copied first (a getter or
    /// method called on a value read through a pointer copies the whole value): it must not change the agent.
    func inspect<R>(handle: Int, _ read: (inout RoutingCore.AgentState) -> R) -> R? {
        guard case .some = storage.base[handle] else { return nil }
        return read(&storage.base[handle]!)
    }

    func inspect<R>(_ id: AgentID, _ read: (inout RoutingCore.AgentState) -> R) -> R? {
        guard let handle = handles[id] else { return nil }
        return inspect(handle: handle, read)
    }

    /// Whether an agent is under the handle (without copying it out).
    func contains(handle: Int) -> Bool {
        if case .some = storage.base[handle] { return true }
        return false
    }

    /// The agent under a handle (nil once removed).
    subscript(handle handle: Int) -> RoutingCore.AgentState? {
        unsafeAddress { UnsafePointer(storage.base + handle) }
        unsafeMutableAddress {
            makeUnique()
            return storage.base + handle
        }
    }

    subscript(id: AgentID) -> RoutingCore.AgentState? {
        unsafeAddress { UnsafePointer(storage.base + (handles[id] ?? 0)) }
        unsafeMutableAddress {
            makeUnique()
            return storage.base + (handles[id] ?? 0)
        }
    }

    /// Adds (or re-adds under its old handle) an agent.
    mutating func add(_ state: RoutingCore.AgentState) {
        makeUnique()
        let handle = handles[state.profile.id] ?? storage.appendEmpty()
        handles[state.profile.id] = handle
        if storage.base[handle] == nil { count += 1 }
        storage.base[handle] = state
        storage.base[handle]!.handle = handle
    }

    /// Removes an agent; its handle stays reserved for it.
    mutating func remove(_ id: AgentID) {
        guard let handle = handles[id], storage.base[handle] != nil else { return }
        makeUnique()
        storage.base[handle] = nil
        count -= 1
    }

    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    }

    /// Slot 0 stays empty (a write through the subscript for an unknown id would land there): an invariant.
    var sentinelIsEmpty: Bool { storage.base[0] == nil }

    var keys: [AgentID] { compactMap { $0.key } }
    var values: [RoutingCore.AgentState] { compactMap { $0.value } }

    func makeIterator() -> AnyIterator<(key: AgentID, value: RoutingCore.AgentState)> {
        let present = storage.present()
        return AnyIterator { present.next().map { ($0.profile.id, $0) } }
    }
}

/// The open conversations, each in a slot found by id through a small index. Reading a field borrows the slot and a
/// change is made in place: a conversation is several hundred bytes with a dozen strings, and copying it out of a
/// dictionary and back on every step was much of a decision's cost. A closed conversation's slot is reused by a
/// later one. As in `AgentTable`, slot 0 is always empty, and conversations are added and removed with `add` and
/// `remove`.
struct ConversationTable: Sequence {
    private var storage = SlotStorage<RoutingCore.OpenConversation>()
    private var index = ConversationIndex<Int32>()
    private var freeSlots: [Int] = []

    init() { _ = storage.appendEmpty() }

    var count: Int { index.count }

    subscript(id: ConversationID) -> RoutingCore.OpenConversation? {
        unsafeAddress { UnsafePointer(storage.base + Int(index[id] ?? 0)) }
        unsafeMutableAddress {
            makeUnique()
            return storage.base + Int(index[id] ?? 0)
        }
    }

    /// Adds a conversation (or replaces the one with its id). It is moved into its slot, not copied.
    mutating func add(_ open: consuming RoutingCore.OpenConversation) {
        makeUnique()
        let id = open.record.id
        let slot = index[id].map(Int.init) ?? freeSlots.popLast() ?? storage.appendEmpty()
        precondition(slot <= Int(Int32.max), "more open conversations than slots")
        index.insert(id, Int32(slot))
        (storage.base + slot).deinitialize(count: 1)
        (storage.base + slot).initialize(to: open)
    }

    mutating func remove(_ id: ConversationID) { _ = take(id) }

    /// Removes a conversation and hands it over (moved out of its slot, not copied).
    mutating func take(_ id: ConversationID) -> RoutingCore.OpenConversation? {
        guard let slot = index.remove(id).map(Int.init) else { return nil }
        makeUnique()
        let open = (storage.base + slot).move()
        (storage.base + slot).initialize(to: nil)
        freeSlots.append(slot)
        return open
    }

    /// Reads a conversation where it lies. As with `AgentTable.inspect`, the closure gets it `inout` only so that it
    /// is not copied first: it must not change it.
    func inspect<R>(_ id: ConversationID, _ read: (inout RoutingCore.OpenConversation) -> R) -> R? {
        guard let slot = index[id].map(Int.init) else { return nil }
        return read(&storage.base[slot]!)
    }

    /// Changes a conversation in place (and reads several of its fields in one lookup); nil when there is none.
    /// A single field is read in place through the subscript (`conversations[id]?.record.customer`); binding the
    /// whole conversation (`if let open = conversations[id]`) copies it.
    @discardableResult
    mutating func modify<R>(_ id: ConversationID, _ change: (inout RoutingCore.OpenConversation) -> R) -> R? {
        guard let slot = index[id].map(Int.init) else { return nil }
        makeUnique()
        return change(&storage.base[slot]!)
    }

    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    }

    /// Slot 0 stays empty (a write through the subscript for an unknown id would land there): an invariant.
    var sentinelIsEmpty: Bool { storage.base[0] == nil }

    var keys: [ConversationID] { map(\.key) }
    var values: [RoutingCore.OpenConversation] { compactMap { $0.value } }

    func makeIterator() -> AnyIterator<(key: ConversationID, value: RoutingCore.OpenConversation)> {
        let present = storage.present()
        return AnyIterator { present.next().map { ($0.record.id, $0) } }
    }
}

/// Values by conversation id (a conversation's table slot, a waiting conversation's queue entry). The core hands
/// ids out in order and most conversations close within hours, so the open ones are mostly a run of recent ids:
/// those are read from a window by their offset (no hashing, one cache line). A conversation left open long after
/// the ones around it closed would keep the window wide; it moves to a dictionary instead, so the window never
/// spans more than a few times the number of ids in it.
struct ConversationIndex<Value>: Sequence {
    /// Values of the ids from `firstID` on, starting at `window[head]`.
    private var window: [Value?] = []
    private var head = 0
    private var firstID: Int64 = 0
    /// Values present in the window.
    private var inWindow = 0
    /// Ids behind the window (or far ahead of it when they came, as a restore after a long gap may bring).
    private var outside: [ConversationID: Value] = [:]

    var count: Int { inWindow + outside.count }
    /// Ids the window spans, held or not (tests check its bound).
    var windowSpan: Int { window.count - head }

    /// How far the window may span beyond the ids it holds before its oldest entries move out.
    private var spanLimit: Int { 4 * inWindow + 4096 }

    subscript(id: ConversationID) -> Value? {
        let offset = id.rawValue &- firstID
        if offset >= 0, offset < window.count &- head, let value = window[head &+ Int(offset)] { return value }
        // An id put outside when it was far ahead may lie inside the window since, as a nil.
        return outside.isEmpty ? nil : outside[id]
    }

    mutating func insert(_ id: ConversationID, _ value: Value) {
        if !outside.isEmpty, outside[id] != nil {
            outside[id] = value
            return
        }
        if inWindow == 0 {
            window.removeAll(keepingCapacity: true)
            head = 0
            firstID = id.rawValue
        }
        let offset = id.rawValue &- firstID
        let span = window.count &- head
        guard offset >= 0, offset - Int64(span) <= Int64(spanLimit) else {
            outside[id] = value
            return
        }
        if offset < span {
            if window[head &+ Int(offset)] == nil { inWindow += 1 }
            window[head &+ Int(offset)] = value
            return
        }
        if offset > span { window.append(contentsOf: repeatElement(nil, count: Int(offset) - span)) }
        window.append(value)
        inWindow += 1
    }

    /// Removes an id, handing back its value.
    @discardableResult
    mutating func remove(_ id: ConversationID) -> Value? {
        let offset = id.rawValue &- firstID
        guard offset >= 0, offset < window.count &- head, let value = window[head &+ Int(offset)] else {
            return outside.isEmpty ? nil : outside.removeValue(forKey: id)
        }
        window[head &+ Int(offset)] = nil
        inWindow -= 1
        trim()
        return value
    }

    /// Drops the empty front of the window, and moves its oldest entries out when it spans too far.
    private mutating func trim() {
        // Fixed before moving any out: moving lowers the limit, which must not make it move them all.
        let limit = spanLimit
        while head < window.count, window[head] == nil || window.count - head > limit {
            if let value = window[head] {
                outside[ConversationID(firstID)] = value
                window[head] = nil
                inWindow -= 1
            }
            head += 1
            firstID += 1
        }
        // Amortized: the dropped front is removed once it is at least half the array.
        if head > 1024, head * 2 > window.count {
            window.removeFirst(head)
            head = 0
        }
    }

    /// Every id and value: the window's in id order, then those outside.
    func makeIterator() -> AnyIterator<(key: ConversationID, value: Value)> {
        var position = head
        var rest = outside.makeIterator()
        let (window, head, firstID) = (window, head, firstID)
        return AnyIterator {
            while position < window.count {
                defer { position += 1 }
                if let value = window[position] { return (ConversationID(firstID + Int64(position - head)), value) }
            }
            return rest.next()
        }
    }
}

extension ConversationIndex: Sendable where Value: Sendable {}
