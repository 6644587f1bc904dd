import KefuConfig
import KefuCore
import KefuProtocol
import KefuStore
import NIOCore

/// Everything that reaches a shop's routing owner, one at a time, in order, on the owner's event loop.
enum OwnerInput: Sendable {
    case connected(ConnectionLink)
    /// A connection the previous kefud process handed over through systemd, with its session as it was there.
    case adopted(ConnectionLink, RestartCarryOver.Session)
    /// A connection another shop's owner hands over, with the `LOGIN ... shop=` naming this shop that it sent there
    /// (its next lines wait until this one is answered).
    case handedIn(ConnectionLink, ClientRequest)
    /// The connection handed to another shop's owner now posts there: nothing more of it comes here.
    case movedAway(SessionID)
    /// The lines a connection read in one burst, parsed.
    case requests(SessionID, [ClientRequest])
    /// The connection stopped reading (a restart): every line it read before has been posted.
    case frozen(SessionID)
    /// The client will send nothing more (EOF or half-close); it still gets its replies, then the close.
    case inputEnded(SessionID)
    case disconnected(SessionID)
    /// The client has read what was written to it: the next part of a long answer may follow.
    case drained(SessionID)
    /// Store job `ticket` (and every one before it) has committed, or failed.
    case committed(ticket: UInt64, failure: StoreError?)
    /// The first read of a long answer (`HISTORY`, `NOTES` or `EXPLAIN` of a closed chat) came back.
    case storeRead(ticket: UInt64, session: SessionID, tag: String, StoreAnswer)
    /// A further page of a `HISTORY` being written to a session.
    case historyPage(SessionID, Result<[MessageRecord], StoreError>)
    /// During a store outage: time to commit what waits again.
    case retryStore
    /// That retry committed (nil) or failed.
    case storeRetried(failure: StoreError?)
    /// The earliest deadline may be due.
    case timer
    /// Periodic: watchdog ping, `STATUS=`, the invariant check, journald summaries.
    case housekeeping
    /// Stop: finish what is committed, say BYE to everyone, end.
    case shutdown
    /// Stop for a restart: finish what is read and committed, then give every connection (to `collector`, for
    /// systemd's file descriptor store) with its session instead of saying BYE.
    case carryOver(RestartCarryOver.Collector)
    /// The stop took too long: end now, without waiting for anything.
    case abort
    /// In a cluster, this node stops serving the shop: write `farewell` (`* MOVED`, or `* BYE reason=moved`) to every
    /// session, close them, end. A graceful handoff first finishes what is committed; `now` (the lease is lost, or a
    /// commit failed) does not wait for commits in flight, whose replies are then never shown.
    case relinquish(farewell: OutboundLine, now: Bool)
    /// The configuration was read again (SIGHUP): apply it, or keep the one in force and say why.
    case reload(Result<KefuConfiguration, ConfigurationLoadError>)
}

extension OwnerInput {
    /// The connection that posted this input, for what a connection posts.
    var connection: SessionID? {
        switch self {
        case .requests(let id, _), .frozen(let id), .inputEnded(let id), .disconnected(let id), .drained(let id),
            .movedAway(let id):
            id
        default: nil
        }
    }
}

/// Why a reloaded configuration could not be read (its description names file, line and key).
public struct ConfigurationLoadError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ error: any Error) { description = "\(error)" }
}

/// What a store read answered for a session.
enum StoreAnswer: Sendable {
    /// `not-found`, as for a conversation that does not exist.
    case notFound
    /// The first page of a conversation's history, the last seq it may go up to, and whether a page was asked for.
    case history(HistoryCursor, firstPage: [MessageRecord])
    /// A closed conversation's notes, and whether retention deleted them (`purged=1`).
    case notes([NoteRecord], purged: Bool)
    /// The decision `EXPLAIN` shows (nil: the conversation never changed hands).
    case explanation(Decision?)
    /// A resend (`SEND ref=`) of a message the store has: its seq.
    case resent(seq: Int)
    case failed
}

/// The routing owner as connections, the store and timers reach it: posting runs the input on the owner's loop.
struct OwnerLink: Sendable {
    let owner: NIOLoopBound<ShopOwner>
    /// The shop the owner serves.
    let shop: String

    var loop: any EventLoop { owner.eventLoop }

    func post(_ input: OwnerInput) {
        let owner = self.owner
        owner.eventLoop.execute { owner.value.handle(input) }
    }
}
