import KefuConfig
import KefuCore
import KefuProtocol
import KefuStore

/// Identifies one client connection for the lifetime of the process.
struct SessionID: Hashable, Sendable, CustomStringConvertible {
    let rawValue: UInt64
    var description: String { "s\(rawValue)" }
}

/// What a session's writer task consumes.
enum OutboxItem: Sendable {
    case line(String)
    /// Write everything before this, then close the connection.
    case close
    /// Write everything before this, then give the connection to systemd's file descriptor store (a restart).
    case handOver
}

/// A session's bounded outbox. The routing owner never awaits a client: when a client reads so slowly that its
/// outbox fills up, the connection is closed rather than letting the daemon's memory grow without bound.
struct Outbox: Sendable {
    static let capacity = 10_000

    let continuation: AsyncStream<OutboxItem>.Continuation
    /// Stops reading the connection (handing over): its reader then posts ``LoopInput/inputFrozen(_:)`` after the
    /// last line read.
    var freeze: @Sendable () -> Void = {}

    static func make() -> (Outbox, AsyncStream<OutboxItem>) {
        let (stream, continuation) = AsyncStream<OutboxItem>.makeStream(bufferingPolicy: .bufferingOldest(capacity))
        return (Outbox(continuation: continuation), stream)
    }

    enum SendResult {
        case queued
        /// The client reads too slowly: the caller closes the session.
        case full
        /// The connection is already gone (its disconnect is on its way to the routing owner).
        case gone
    }

    func send(_ line: String) -> SendResult {
        switch continuation.yield(.line(line)) {
        case .enqueued: .queued
        case .dropped: .full
        case .terminated: .gone
        @unknown default: .gone
        }
    }

    func close() {
        continuation.yield(.close)
        continuation.finish()
    }

    func handOver() {
        continuation.yield(.handOver)
        continuation.finish()
    }
}

/// Everything that reaches the routing owner, one at a time, in order.
enum LoopInput: Sendable {
    case connected(SessionID, Outbox)
    /// A connection the previous kefud process handed over through systemd, with its session as it was there.
    case adopted(SessionID, Outbox, HandedOverSession)
    /// The session's reader stopped (handing over): every line it read before has been posted.
    case inputFrozen(SessionID)
    case request(SessionID, tag: String, Result<Request, ProtocolError>)
    /// The client will send nothing more (EOF or half-close); it still gets its replies, then the close.
    case inputEnded(SessionID)
    case disconnected(SessionID)
    /// A batch of records enqueued under `ticket` has committed (or failed).
    case committed(ticket: UInt64, failure: StoreError?)
    /// A read enqueued under `ticket` (HISTORY, NOTES or EXPLAIN of a closed chat) has produced its lines.
    case storeRead(ticket: UInt64, StoreReadLines)
    /// The earliest deadline may be due.
    case timer
    /// Periodic: watchdog ping and `STATUS=` refresh, sent from the routing loop so a stuck loop is noticed.
    case housekeeping
    /// Stop: finish what is committed, say BYE to everyone, return.
    case shutdown
    /// Stop for a restart: finish what is read and committed, then give every connection to systemd's file
    /// descriptor store with its session instead of saying BYE.
    case handOver
    /// The configuration was read again (SIGHUP): apply it, or keep the one in force and say why.
    case reload(Result<KefuConfiguration, ConfigurationLoadError>)
}

/// Why a reloaded configuration could not be read (its description names file, line and key).
public struct ConfigurationLoadError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ error: any Error) { description = "\(error)" }
}

/// The routing owner's inbox. Sendable: sessions, store callbacks and timers all post here.
struct Mailbox: Sendable {
    let continuation: AsyncStream<LoopInput>.Continuation

    func post(_ input: LoopInput) { continuation.yield(input) }

    /// Ends the routing owner's input (after a hand-over, once every connection has left).
    func finish() { continuation.finish() }
}

/// The lines a store read produced for one session, its completion included.
struct StoreReadLines: Sendable {
    let session: SessionID
    let lines: [String]
}
