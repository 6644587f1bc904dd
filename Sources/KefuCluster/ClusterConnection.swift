import KefuConfig
import Logging
import NIOPosix
import PostgresNIO

extension PostgresURL {
    /// A connection to the cluster's database as this URL says, made ready by `prepare` (migrations, the node's
    /// lock, session settings), on `loop`; closed again if `prepare` fails. Every connection kefud and kefuctl open goes
    /// through here.
    func connect<T: Sendable>(
        id: Int, on loop: any EventLoop = MultiThreadedEventLoopGroup.singleton.any(), logger: Logger,
        prepare: @Sendable (PostgresConnection) async throws -> T
    ) async throws -> (PostgresConnection, T) {
        let configuration = PostgresConnection.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: .disable)
        let connection = try await PostgresConnection.connect(
            on: loop, configuration: configuration, id: id, logger: logger)
        do {
            return (connection, try await prepare(connection))
        } catch {
            try? await connection.close()
            throw error
        }
    }
}
