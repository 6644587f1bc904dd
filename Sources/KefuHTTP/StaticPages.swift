import Foundation

/// The board and workspace pages (`web/`: HTML, JavaScript, CSS; no build step, no CDN), read once when the listener
/// starts and served from memory: nothing is read from disk on an event loop, and no request can name a file that was
/// not there at start (no path is ever joined from a URL).
public struct StaticPages: Sendable {
    public struct File: Sendable {
        public var contentType: String
        public var bytes: [UInt8]
    }

    /// By URL path: `/` (the supervisor board), `/agent` (the agent workspace), `/static/<name>`.
    public private(set) var files: [String: File] = [:]
    public let directory: String

    /// Reads `directory`'s files (not its subdirectories). Nil when it has no `index.html`.
    public init?(directory: String) {
        self.directory = directory
        let manager = FileManager.default
        guard let names = try? manager.contentsOfDirectory(atPath: directory), names.contains("index.html") else {
            return nil
        }
        for name in names.sorted() {
            guard let data = manager.contents(atPath: directory + "/" + name), let type = Self.contentType(of: name)
            else { continue }
            let file = File(contentType: type, bytes: Array(data))
            switch name {
            case "index.html": files["/"] = file
            case "agent.html": files["/agent"] = file
            default: break
            }
            files["/static/" + name] = file
        }
    }

    /// Where the pages are: the configured directory, else beside an installed binary, else `./web`.
    public static func locate(configured: String?, executable: String = CommandLine.arguments.first ?? "") -> String {
        if let configured { return configured }
        let binary = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
        let installed = binary.deletingLastPathComponent().appendingPathComponent("share/kefu/web").path
        if FileManager.default.fileExists(atPath: installed + "/index.html") { return installed }
        return FileManager.default.currentDirectoryPath + "/web"
    }

    static func contentType(of name: String) -> String? {
        switch name.split(separator: ".").last {
        case "html": "text/html; charset=utf-8"
        case "js": "text/javascript; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "svg": "image/svg+xml"
        case "png": "image/png"
        case "ico": "image/x-icon"
        default: nil
        }
    }
}
