import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A swift-log backend that writes every log line to journald as a structured entry.
///
/// Each entry carries `MESSAGE`, `PRIORITY` (from the level), `SYSLOG_IDENTIFIER`, `CODE_FILE`,
/// `CODE_LINE`, `CODE_FUNC`, the logger label as `KEFU_LOGGER`, and each metadata key as
/// `KEFU_<SANITIZED_KEY>`, so `journalctl KEFU_CONVERSATION=42` finds every line about one conversation.
///
/// ```swift
/// JournalLogHandler.bootstrap(logLevel: .info)   // journald when it is there, stderr otherwise
/// ```
public struct JournalLogHandler: LogHandler {
    /// The logger label, sent as `KEFU_LOGGER`.
    public let label: String
    /// Sent as `SYSLOG_IDENTIFIER`.
    public let syslogIdentifier: String
    /// Lines below this level are dropped by `Logger` before reaching the handler.
    public var logLevel: Logger.Level
    /// Metadata attached to every line from this handler.
    public var metadata: Logger.Metadata
    /// Contextual metadata (e.g. task-local), merged between ``metadata`` and per-call metadata.
    public var metadataProvider: Logger.MetadataProvider?

    /// Creates a handler; pass it to `Logger(label:factory:)` or use ``factory(logLevel:useJournal:)``.
    public init(
        label: String,
        logLevel: Logger.Level = .info,
        syslogIdentifier: String = "kefud",
        metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider
    ) {
        self.label = label
        self.logLevel = logLevel
        self.syslogIdentifier = syslogIdentifier
        self.metadata = [:]
        self.metadataProvider = metadataProvider
    }

    /// Reads or writes one metadata value of this handler.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// The metadata key whose value becomes the record's `MESSAGE_ID`.
    public static let messageIDKey = "message_id"

    /// Writes one line to journald (to stderr if journald refuses it).
    public func log(event: LogEvent) {
        let message = event.message.description
        var fields: [(name: String, value: String)] = [
            ("MESSAGE", message),
            ("PRIORITY", String(Self.priority(for: event.level))),
            ("SYSLOG_IDENTIFIER", syslogIdentifier),
            ("CODE_FILE", event.file),
            ("CODE_LINE", String(event.line)),
            ("CODE_FUNC", event.function),
            (KefuJournalField.logger, label),
        ]
        for (key, value) in mergedMetadata(event.metadata) {
            // `message_id` is the record's catalogued MESSAGE_ID (`SystemdMessageID`), not a field of kefu's own.
            let name =
                key == Self.messageIDKey ? "MESSAGE_ID" : KefuJournalField.metadataPrefix + Journal.fieldName(key)
            fields.append((name, value.description))
        }
        if let error = event.error {
            fields.append((KefuJournalField.error, String(describing: error)))
        }
        if !Journal.send(fields) {
            // journald went away (restart, full socket buffer): keep the line rather than lose it.
            Self.writeToStandardError("\(event.level) \(label): \(message)\n")
        }
    }

    /// Syslog priority for a swift-log level: trace and debug 7, info 6, notice 5, warning 4, error 3,
    /// critical 2.
    public static func priority(for level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: JournalPriority.debug
        case .info: JournalPriority.info
        case .notice: JournalPriority.notice
        case .warning: JournalPriority.warning
        case .error: JournalPriority.error
        case .critical: JournalPriority.critical
        }
    }

    /// Whether journald is listening on `/run/systemd/journal/socket`; see ``Journal/isAvailable(socketPath:)``.
    public static func journalIsAvailable() -> Bool {
        Journal.isAvailable()
    }

    /// A factory for `LoggingSystem.bootstrap(_:)`: ``JournalLogHandler`` when `useJournal`, otherwise
    /// swift-log's `StreamLogHandler` on stderr (which systemd also captures when it runs us).
    public static func factory(
        logLevel: Logger.Level = .info,
        useJournal: Bool = JournalLogHandler.journalIsAvailable()
    ) -> @Sendable (String) -> any LogHandler {
        { label in
            if useJournal {
                return JournalLogHandler(label: label, logLevel: logLevel)
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
    }

    /// Bootstraps swift-log with ``factory(logLevel:useJournal:)``. Like `LoggingSystem.bootstrap`, call it
    /// once per process, before the first `Logger` is made.
    ///
    /// - Returns: whether journald was chosen.
    @discardableResult
    public static func bootstrap(
        logLevel: Logger.Level = .info,
        useJournal: Bool = JournalLogHandler.journalIsAvailable()
    ) -> Bool {
        LoggingSystem.bootstrap(factory(logLevel: logLevel, useJournal: useJournal))
        return useJournal
    }

    /// Handler metadata, then the provider's, then the call's: later ones win on equal keys.
    private func mergedMetadata(_ explicit: Logger.Metadata?) -> Logger.Metadata {
        var merged = metadata
        if let provided = metadataProvider?.get(), !provided.isEmpty {
            merged.merge(provided) { _, new in new }
        }
        if let explicit, !explicit.isEmpty {
            merged.merge(explicit) { _, new in new }
        }
        return merged
    }

    private static func writeToStandardError(_ text: String) {
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            _ = write(STDERR_FILENO, buffer.baseAddress, buffer.count)
        }
    }
}
