/// `[http]` (main file only): the HTTP listener beside the line protocol (issue #13): `/healthz`, `/readyz`, and what
/// the pages and metrics will be served from. Absent: no HTTP at all.
public struct HTTPSettings: Sendable, Equatable {
    /// `listen`: where HTTP is served, `host:port` like `[server] listen`.
    public var listen: ListenAddress

    public init(listen: ListenAddress) {
        self.listen = listen
    }

    static func decode(_ reader: TableReader) throws(ConfigError) -> HTTPSettings {
        let text = try reader.required("listen", .string)
        switch ListenAddress.parse(text.value) {
        case .success(let address):
            try reader.finish()
            return HTTPSettings(listen: address)
        case .failure(let failure):
            throw reader.error("listen", line: text.line, failure.message)
        }
    }
}
