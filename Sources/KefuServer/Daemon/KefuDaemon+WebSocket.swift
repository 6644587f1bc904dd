import KefuHTTP
import NIOCore

extension KefuDaemon {
    /// `GET /ws`: once serving, an upgraded WebSocket gets the connection handler a TCP client gets, starting with
    /// the lobby like any connection (so verbs, errors, login and limits are the line protocol's own). It is never
    /// handed to the next process at a restart (see `ClientConnection.carriesOver`).
    var webSocketService: WebSocketService {
        WebSocketService(maxLineBytes: server.maxLineBytes) { [self] channel in
            guard let serving = running.withLock({ $0 }), readiness.isReady else {
                // Upgraded already (the 101 is out): nothing will serve it, so it ends now; the client retries.
                channel.close(promise: nil)
                return
            }
            let connection = ClientConnection(
                session: serving.sessions.next(), owner: serving.lobby, limits: connectionLimits,
                census: serving.census, logger: logger, carriesOver: false)
            try channel.pipeline.syncOperations.addHandler(connection)
            serving.lobby.post(.connected(connection.link(on: channel.eventLoop)))
        }
    }
}
