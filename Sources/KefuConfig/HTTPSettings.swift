/// `[http]` (main file only): the HTTP listener beside the line protocol (issue #13): `/healthz`, `/readyz`,
/// `/metrics`, `/ws` and the pages. Absent: no HTTP at all.
public struct HTTPSettings: Sendable, Equatable {
    /// `listen`: where HTTP is served, `host:port` like `[server] listen`.
    public var listen: ListenAddress
    /// `pages_dir`: where the board and workspace pages are (default: `share/kefu/web` beside the binary's
    /// directory, as `make install` puts them, else `./web`).
    public var pagesDirectory: String?

    public init(listen: ListenAddress, pagesDirectory: String? = nil) {
        self.listen = listen
        self.pagesDirectory = pagesDirectory
    }

    static func decode(_ reader: TableReader) throws(ConfigError) -> HTTPSettings {
        let text = try reader.required("listen", .string)
        let pages = try reader.optional("pages_dir", .string)
        switch ListenAddress.parse(text.value) {
        case .success(let address):
            try reader.finish()
            return HTTPSettings(listen: address, pagesDirectory: pages?.value)
        case .failure(let failure):
            throw reader.error("listen", line: text.line, failure.message)
        }
    }
}
