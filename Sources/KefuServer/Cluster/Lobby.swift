import KefuConfig
import KefuCore
import KefuStore
import Logging

/// In a cluster, the owner every connection starts with: it serves no shop (no agent, no buyer can log in to it), and
/// hands a `LOGIN` to the owner of the shop it names on this node, or answers `MOVED` or `tryagain` for a shop served
/// elsewhere. Its name cannot be a shop's (`LOGIN ... shop=` takes only `a-z 0-9 _ -`).
enum Lobby {
    static let name = "(lobby)"

    /// A team of nobody: the customers' token hash matches no token (SHA-256 is never all zeros).
    static var configuration: KefuConfiguration {
        get throws {
            try KefuConfiguration.parse(
                "[customers]\ntoken_sha256 = \"\(String(repeating: "0", count: 64))\"\n", file: "(lobby)",
                kind: .shop)
        }
    }
}

/// The lobby's store: it has nothing to keep (nobody can log in to it, so its core makes no record) and nothing to
/// read.
final class NoRecords: RecordStore {
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    var statistics: StoreStatistics { StoreStatistics() }

    func enqueue(_ records: [Record], onCommit: @escaping @Sendable (Result<Void, StoreError>) -> Void) {
        if !records.isEmpty {
            logger.warning("the lobby made records; none kept", metadata: ["count": "\(records.count)"])
        }
        onCommit(.success(()))
    }

    func enqueueRead<T: Sendable>(
        _ body: @escaping @Sendable (any RecordReader) throws -> T,
        completion: @escaping @Sendable (Result<T, StoreError>) -> Void
    ) {
        do {
            completion(.success(try body(Nothing())))
        } catch {
            completion(.failure(StoreError(.read, path: Lobby.name, message: "\(error)", underlying: error)))
        }
    }

    func enqueuePurge(
        _ request: PurgeRequest, completion: @escaping @Sendable (Result<PurgeOutcome, StoreError>) -> Void
    ) {
        completion(.success(PurgeOutcome(finished: true)))
    }

    func shutdown() async {}

    private struct Nothing: RecordReader {
        func history(
            of conversation: ConversationID, after: Int, upTo: Int, limit: Int, includeInternal: Bool
        ) throws -> [MessageRecord] { [] }
        func sentMessage(_ conversation: ConversationID, author: String, ref: String) throws -> Int? { nil }
        func lastSeq(of conversation: ConversationID) throws -> Int { 0 }
        func conversation(_ id: ConversationID) throws -> ConversationRecord? { nil }
        func purgedAt(_ conversation: ConversationID) throws -> Instant? { nil }
        func agentsWhoHeld(_ conversation: ConversationID) throws -> [AgentID] { [] }
        func assignments(of conversation: ConversationID) throws -> [AssignmentRecord] { [] }
        func latestAssignment(of conversation: ConversationID) throws -> AssignmentRecord? { nil }
        func notes(of conversation: ConversationID) throws -> [NoteRecord] { [] }
        func rounds(of conversation: ConversationID) throws -> [RoundRecord] { [] }
        func dayRecords(since: Instant) throws -> DayRecords { DayRecords(rounds: [], surveys: [], openings: []) }
        func openSurveys(at now: Instant) throws -> [RatingRecord] { [] }
        func survey(of conversation: ConversationID) throws -> RatingRecord? { nil }
        func lastAgents(closedSince since: Instant) throws -> [CustomerID: ReturningBuyer] { [:] }
        func recoveredState(returningBuyersSince since: Instant?) throws -> RecoveredState {
            RecoveredState(
                openConversations: [], nextConversationID: ConversationID(1), lastAssignedAt: [:], notes: [:],
                returningBuyers: [:], sentRefs: [:])
        }
    }
}
