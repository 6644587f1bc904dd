import Foundation
import KefuConfig
import KefuHTTP
import KefuTestSupport
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// The HTTP listener over a real loopback socket: health, readiness as it changes, and the answers to what it does not
/// serve.
@Suite("The HTTP listener")
struct HTTPListenerTests {
    @Test func healthIsAlwaysOkAndReadinessFollowsTheDaemon() async throws {
        let ready = Atomic(false)
        let listener = try await HTTPListener.bind(ListenAddress(host: "127.0.0.1", port: 0)) {
            ready.load(ordering: .relaxed)
        }
        let port = try #require(listener.localAddress?.port)
        #expect(try await httpExchange(port, "GET /healthz HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n")
            .hasPrefix("HTTP/1.1 200 OK"))
        let notReady = try await httpExchange(port, "GET /readyz HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n")
        #expect(notReady.hasPrefix("HTTP/1.1 503 Service Unavailable"))
        #expect(notReady.hasSuffix("\r\n\r\nnot ready\n"))
        ready.store(true, ordering: .relaxed)
        let isReady = try await httpExchange(port, "GET /readyz?verbose HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n")
        #expect(isReady.hasPrefix("HTTP/1.1 200 OK"))
        #expect(isReady.contains("content-length: 6\r\n") || isReady.contains("Content-Length: 6\r\n"))
        #expect(isReady.hasSuffix("\r\n\r\nready\n"))
        await listener.close()
    }

    @Test func thePagesAreTheFilesThatWereThereAtStartServedFromMemory() async throws {
        let directory = try TemporaryDirectory(prefix: "kefu-pages")
        try "<h1>看板</h1>".write(toFile: directory.path + "/index.html", atomically: false, encoding: .utf8)
        try "export const x = 1;".write(toFile: directory.path + "/kefu.js", atomically: false, encoding: .utf8)
        try "secret".write(toFile: directory.path + "/notes.txt", atomically: false, encoding: .utf8)
        let pages = try #require(StaticPages(directory: directory.path))
        let listener = try await HTTPListener.bind(ListenAddress(host: "127.0.0.1", port: 0), pages: pages) { true }
        let port = try #require(listener.localAddress?.port)
        let board = try await httpGet(port, "/")
        #expect(board.hasPrefix("HTTP/1.1 200 OK"))
        #expect(board.contains("text/html; charset=utf-8"))
        #expect(board.hasSuffix("\r\n\r\n<h1>看板</h1>"))
        #expect(try await httpGet(port, "/static/kefu.js").contains("text/javascript; charset=utf-8"))
        // Only the page types are served; a file added later, or a path outside, is not.
        #expect(try await httpGet(port, "/static/notes.txt").hasPrefix("HTTP/1.1 404"))
        try "late".write(toFile: directory.path + "/late.js", atomically: false, encoding: .utf8)
        #expect(try await httpGet(port, "/static/late.js").hasPrefix("HTTP/1.1 404"))
        #expect(try await httpGet(port, "/static/../index.html").hasPrefix("HTTP/1.1 404"))
        #expect(StaticPages(directory: directory.path + "/nowhere") == nil)
        await listener.close()
    }

    @Test func unknownPathsMethodsAndHeadAreAnsweredAsHTTPSays() async throws {
        let listener = try await HTTPListener.bind(ListenAddress(host: "127.0.0.1", port: 0)) { true }
        let port = try #require(listener.localAddress?.port)
        #expect(try await httpExchange(port, "GET /nothing HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n")
            .hasPrefix("HTTP/1.1 404 Not Found"))
        let post = try await httpExchange(
            port, "POST /healthz HTTP/1.1\r\nHost: k\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
        #expect(post.hasPrefix("HTTP/1.1 405 Method Not Allowed"))
        #expect(post.lowercased().contains("allow: get, head\r\n"))
        let head = try await httpExchange(port, "HEAD /healthz HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n")
        #expect(head.hasPrefix("HTTP/1.1 200 OK"))
        #expect(head.hasSuffix("\r\n\r\n"))
        await listener.close()
    }

    @Test func aKeptAliveConnectionIsAnsweredRequestByRequestInOrder() async throws {
        let listener = try await HTTPListener.bind(ListenAddress(host: "127.0.0.1", port: 0)) { false }
        let port = try #require(listener.localAddress?.port)
        let both = try await httpExchange(
            port,
            "GET /healthz HTTP/1.1\r\nHost: k\r\n\r\nGET /readyz HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n")
        // Each body ends in a newline, so every status line starts a line.
        let statuses = both.split(whereSeparator: \.isNewline).filter { $0.hasPrefix("HTTP/1.1 ") }
        #expect(statuses == ["HTTP/1.1 200 OK", "HTTP/1.1 503 Service Unavailable"])
        await listener.close()
    }

    @Test func closingEndsTheKeptAliveConnectionsToo() async throws {
        let listener = try await HTTPListener.bind(ListenAddress(host: "127.0.0.1", port: 0)) { true }
        let port = try #require(listener.localAddress?.port)
        // A request without `Connection: close`: answered, and the connection kept open.
        let answered = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: Void.self)
        let client = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UntilAnswered(answered))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        try await client.writeAndFlush(ByteBuffer(string: "GET /healthz HTTP/1.1\r\nHost: k\r\n\r\n")).get()
        try await answered.futureResult.get()
        #expect(client.isActive)
        await listener.close()
        // Closed by the listener, not by its 60 s idle timeout.
        let closedInTime = await withTaskGroup(of: Bool.self) { group in
            group.addTask { (try? await client.closeFuture.get()) != nil }
            group.addTask {
                guard (try? await Task.sleep(for: .seconds(5))) != nil else { return true }
                client.close(promise: nil)  // too late: ends the wait above
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        #expect(closedInTime)
    }

    @Test func aMalformedRequestGetsBadRequestAndTheListenerCarriesOn() async throws {
        let listener = try await HTTPListener.bind(ListenAddress(host: "127.0.0.1", port: 0)) { true }
        let port = try #require(listener.localAddress?.port)
        #expect(try await httpExchange(port, "NOT HTTP AT ALL\r\n\r\n").hasPrefix("HTTP/1.1 400 Bad Request"))
        #expect(try await httpExchange(port, "GET /healthz HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n")
            .hasPrefix("HTTP/1.1 200 OK"))
        await listener.close()
    }
}

/// Succeeds `promise` once a whole `ok` answer has arrived.
private final class UntilAnswered: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private let promise: EventLoopPromise<Void>
    private var text = ""

    init(_ promise: EventLoopPromise<Void>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        text += String(buffer: unwrapInboundIn(data))
        if text.hasSuffix("\r\n\r\nok\n") { promise.succeed() }
    }
}
