/// An error in a configuration file, pinned to the file, line and key it concerns.
///
/// `description` renders as `<file>:<line>: <key>: <message>`, leaving out `:<line>` when the line is unknown and
/// `<key>: ` when the error concerns no particular key, for example
/// `kefud.toml:14: agent[1].max_chats: must be an integer from 1 to 1000`.
public struct ConfigError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file as it was named to the loader or parser.
    public var file: String
    /// The 1-based line the error concerns, when known.
    public var line: Int?
    /// The 1-based column of a syntax error, when known. Not part of `description`: the line and key suffice there.
    public var column: Int?
    /// The key path the error concerns, such as `server.listen` or `agent[1].skills.refund`.
    public var key: String?
    /// What is wrong, phrased so that it reads well after the key.
    public var message: String

    /// Creates an error; `line` and `column` are 1-based.
    public init(file: String, line: Int? = nil, column: Int? = nil, key: String? = nil, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.message = message
    }

    /// `<file>:<line>: <key>: <message>`, without the parts that are unknown.
    public var description: String {
        var text = file
        if let line {
            text += ":\(line)"
        }
        text += ": "
        if let key {
            text += "\(key): "
        }
        return text + message
    }
}
