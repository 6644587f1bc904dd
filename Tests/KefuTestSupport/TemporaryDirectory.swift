import Foundation

/// A fresh directory under `NSTemporaryDirectory()`, removed with everything in it on deinit or
/// ``remove()``.
public final class TemporaryDirectory: Sendable {
    /// The directory.
    public let url: URL

    /// The directory as a file-system path.
    public var path: String {
        url.path
    }

    /// Creates `<tmp>/<prefix>-<random>`.
    public init(prefix: String = "kefu-test") throws {
        let name = "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
        url = URL(fileURLWithPath: NSTemporaryDirectory(), isDirectory: true)
            .appendingPathComponent(name, isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// A path inside the directory (nothing is created).
    public func url(for name: String) -> URL {
        url.appendingPathComponent(name)
    }

    /// Deletes the directory now; safe to call twice.
    public func remove() {
        try? FileManager.default.removeItem(at: url)
    }

    deinit {
        remove()
    }
}
