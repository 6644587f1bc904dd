/// The protocol's error codes (`TAG ERR <code> :text`).
public enum ErrorCode: String, Sendable, CaseIterable {
    case notLoggedIn = "not-logged-in"
    case authFailed = "auth-failed"
    case unknownVerb = "unknown-verb"
    case badArgs = "bad-args"
    case notFound = "not-found"
    case forbidden
    case lineTooLong = "line-too-long"
    case badEncoding = "bad-encoding"
    case conflict
    /// The daemon cannot take the request now (for example it is shutting down).
    case busy
    /// Something failed inside the daemon (for example the store); the request was not carried out.
    case `internal`
    /// In a cluster: another node serves the shop; the `* MOVED` line before it says which.
    case moved
    /// In a cluster: the shop is changing hands (no node serves it this instant); try again in a moment.
    case tryagain
    /// The store cannot write (a full disk, an I/O error): a command that must write was not carried out; reads
    /// still work. Retry later.
    case unavailable
}

/// A request the daemon refuses, with a human-readable reason.
public struct ProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
