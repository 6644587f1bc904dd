import KefuProtocol
import NIOCore
import Synchronization

/// Identifies one client connection for the lifetime of the process.
struct SessionID: Hashable, Sendable, CustomStringConvertible {
    let rawValue: UInt64
    var description: String { "s\(rawValue)" }
}

/// The routing owner's handle on a connection: everything it asks of the connection runs on the connection's event
/// loop (directly when the owner shares that loop, which is safe because a connection never calls the owner back
/// within the call).
struct ConnectionLink: Sendable {
    let session: SessionID
    let handler: NIOLoopBound<ClientConnection>
    /// See `ClientConnection.carriesOver`.
    var carriesOver = true
    /// The client's IP address (a WebSocket's: the HTTP client's), for login throttling and its records.
    var peer = "local"

    var loop: any EventLoop { handler.eventLoop }

    private func run(_ body: @escaping @Sendable (ClientConnection) -> Void) {
        if loop.inEventLoop {
            body(handler.value)
        } else {
            let handler = self.handler
            loop.execute { body(handler.value) }
        }
    }

    func deliver(_ bytes: ByteBuffer, answered: Int, after: ClientConnection.AfterDelivery) {
        run { $0.deliver(bytes, answered: answered, after: after) }
    }

    func freeze() { run { $0.freeze() } }

    /// From now on the connection posts to `owner` (its `LOGIN` named that owner's shop).
    func rebind(to owner: OwnerLink) { run { $0.rebind(to: owner) } }

    func close() { run { $0.close() } }

    func carryOver(to collector: RestartCarryOver.Collector) { run { $0.carryOver(to: collector) } }
}

/// The client connections open, so that a stop can wait until every one has ended or been handed over, and close
/// those that will not end by themselves.
final class ConnectionCensus: Sendable {
    private struct State {
        var open: [SessionID: ConnectionLink] = [:]
        var waiters: [@Sendable () -> Void] = []
    }

    private let state = Mutex(State())

    var count: Int { state.withLock { $0.open.count } }

    func joined(_ link: ConnectionLink) { state.withLock { $0.open[link.session] = link } }

    func left(_ session: SessionID) {
        let waiters: [@Sendable () -> Void] = state.withLock { state in
            guard state.open.removeValue(forKey: session) != nil, state.open.isEmpty else { return [] }
            defer { state.waiters = [] }
            return state.waiters
        }
        waiters.forEach { $0() }
    }

    /// Closes every connection still open, without writing anything more.
    func closeAll() {
        for link in state.withLock({ Array($0.open.values) }) { link.close() }
    }

    /// Runs `body` once no connection is open (at once if none is).
    func whenEmpty(_ body: @escaping @Sendable () -> Void) {
        let now: Bool = state.withLock { state in
            if state.open.isEmpty { return true }
            state.waiters.append(body)
            return false
        }
        if now { body() }
    }

    /// Returns once no connection is open, or after `timeout` (false then).
    func waitUntilEmpty(timeout: Duration) async -> Bool {
        let outcome = Mutex<CheckedContinuation<Bool, Never>?>(nil)
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            outcome.withLock { $0 = continuation }
            let resume: @Sendable (Bool) -> Void = { value in outcome.withLock { $0.take() }?.resume(returning: value) }
            let timer = Task {
                try? await Task.sleep(for: timeout)
                resume(false)
            }
            whenEmpty {
                timer.cancel()
                resume(true)
            }
        }
    }
}
