/// `[http]` (main file only): the HTTP listener beside the line protocol (issue #13): `/healthz`, `/readyz`,
/// `/metrics`, `/ws` and the pages. Absent: no HTTP at all.
public struct HTTPSettings: Sendable, Equatable {
    /// `listen`: where plain HTTP is served, `host:port` like `[server] listen`; nil when only `listen_tls` is given.
    public var listen: ListenAddress?
    /// `listen_tls` and its certificate keys (as in `[server]`): HTTPS and `wss:` beside or instead of `listen`.
    public var tls: TLSSettings?
    /// `pages_dir`: where the board and workspace pages are (default: `share/kefu/web` beside the binary's
    /// directory, as `make install` puts them, else `./web`).
    public var pagesDirectory: String?

    public init(listen: ListenAddress?, tls: TLSSettings? = nil, pagesDirectory: String? = nil) {
        self.listen = listen
        self.tls = tls
        self.pagesDirectory = pagesDirectory
    }

    static func decode(_ reader: TableReader) throws(ConfigError) -> HTTPSettings {
        let tls = try TLSSettings.decode(reader)
        // Without TLS, `listen` is what [http] is for.
        let text = tls == nil ? try reader.required("listen", .string) : try reader.optional("listen", .string)
        let pages = try reader.optional("pages_dir", .string)
        var listen: ListenAddress?
        if let text {
            switch ListenAddress.parse(text.value) {
            case .success(let address): listen = address
            case .failure(let failure): throw reader.error("listen", line: text.line, failure.message)
            }
        }
        try reader.finish()
        return HTTPSettings(listen: listen, tls: tls, pagesDirectory: pages?.value)
    }
}
