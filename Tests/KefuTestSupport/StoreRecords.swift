import Foundation
import KefuCore
import KefuStore
import Synchronization

// Records and store helpers shared by the tests of both stores (SQLite in KefuStoreTests, PostgreSQL in
// KefuClusterTests).

public func at(_ milliseconds: Int64) -> Instant {
    Instant(unixMilliseconds: milliseconds)
}

/// A queued conversation with every optional nil, unless overridden. The customer is `buyer-<id>` by default.
public func conversation(
    _ id: Int64,
    customer: CustomerID? = nil,
    store: String? = nil,
    language: String? = nil,
    state: ConversationState = .queued,
    agent: AgentID? = nil,
    priority: Priority = .normal,
    firstRespondedAt: Instant? = nil,
    breachedAt: Instant? = nil,
    closedAt: Instant? = nil,
    messageCount: Int = 1,
    firstMessage: String = "hello"
) -> ConversationRecord {
    ConversationRecord(
        id: ConversationID(id),
        customer: customer ?? CustomerID("buyer-\(id)"),
        skill: "presales",
        priority: priority,
        store: store,
        language: language,
        state: state,
        agent: agent,
        openedAt: at(1_700_000_000_000 + id),
        firstResponseDueAt: at(1_700_000_060_000 + id),
        firstRespondedAt: firstRespondedAt,
        breachedAt: breachedAt,
        closedAt: closedAt,
        messageCount: messageCount,
        firstMessage: firstMessage
    )
}

public func message(_ conversation: Int64, _ seq: Int, _ text: String = "text", sender: MessageSender = .customer)
    -> MessageRecord
{
    MessageRecord(
        conversation: ConversationID(conversation),
        seq: seq,
        sender: sender,
        author: sender == .customer ? "buyer-\(conversation)" : "alice",
        at: at(1_700_000_000_000 + Int64(seq)),
        text: text
    )
}

public func assignment(
    _ conversation: Int64, _ agent: AgentID?, _ milliseconds: Int64, _ reason: AssignmentReason = .routed,
    decision: Decision? = nil
) -> AssignmentRecord {
    AssignmentRecord(
        conversation: ConversationID(conversation), agent: agent, at: at(milliseconds), reason: reason,
        decision: decision
    )
}

/// A decision for `conversation` made at `milliseconds`, choosing `agent`.
public func decision(
    _ conversation: Int64, _ agent: AgentID?, _ milliseconds: Int64, rule: DecisionRule = .lowestLoadRatio,
    _ candidates: [Candidate] = [], others: [OtherAgents] = []
) -> Decision {
    Decision(
        conversation: ConversationID(conversation), at: at(milliseconds), agent: agent, rule: rule,
        candidates: candidates, others: others)
}

public func note(_ conversation: Int64, _ seq: Int, _ text: String = "note", author: String = "alice") -> NoteRecord {
    NoteRecord(
        conversation: ConversationID(conversation), seq: seq, author: author, at: at(1_700_000_100_000 + Int64(seq)),
        text: text
    )
}

/// Outcomes of enqueued batches, by a caller-chosen key, filled in from the writer thread.
public final class Outcomes: Sendable {
    public init() {}

    private let results = Mutex<[Int: Result<Void, StoreError>]>([:])
    private let order = Mutex<[Int]>([])

    public func callback(_ key: Int) -> @Sendable (Result<Void, StoreError>) -> Void {
        { result in
            self.results.withLock { $0[key] = result }
            self.order.withLock { $0.append(key) }
        }
    }

    public func succeeded(_ key: Int) -> Bool {
        results.withLock { if case .success = $0[key] { true } else { false } }
    }

    public func error(_ key: Int) -> StoreError? {
        results.withLock { if case .failure(let error) = $0[key] { error } else { nil } }
    }

    /// Keys in the order their callbacks fired.
    public var firingOrder: [Int] { order.withLock { $0 } }
}

extension RecordStore {
    /// Enqueues a write and returns its outcome once the writer reports it.
    public func outcome(of records: [Record]) async -> Result<Void, StoreError> {
        await withCheckedContinuation { continuation in
            enqueue(records) { continuation.resume(returning: $0) }
        }
    }

    /// Parks the writer thread inside a read until the returned gate is signalled, and returns only once it is
    /// parked. Jobs enqueued meanwhile are all waiting when it resumes, so the writer takes them as one group:
    /// deterministic batching without sleeping.
    public func holdWriter() async -> DispatchSemaphore {
        let gate = DispatchSemaphore(value: 0)
        await withCheckedContinuation { (parked: CheckedContinuation<Void, Never>) in
            enqueueRead({ _ in
                parked.resume()
                gate.wait()
            }, completion: { _ in })
        }
        return gate
    }

    /// Waits until everything enqueued so far has been processed.
    public func drain() async throws {
        try await read { _ in }
    }
}
