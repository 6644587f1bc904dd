import Foundation

/// Everything `kefud` reads from its TOML configuration file, validated.
///
/// Decoding is strict: unknown keys, wrong types and out-of-range values are errors naming the file, line and key,
/// because a silently ignored typo in a routing configuration shows up much later as a mystery.
public struct KefuConfiguration: Sendable, Equatable {
    /// `[server]`: where to listen and how to run.
    public var server: ServerSettings
    /// `[sla]`: service-level targets.
    public var sla: SLASettings
    /// `[customers]`: how customers are let in.
    public var customers: CustomerSettings
    /// `[[agent]]`, in file order.
    public var agents: [AgentSettings]
    /// `[[supervisor]]`, in file order.
    public var supervisors: [SupervisorSettings]
    /// `[routing]`: fairness, stickiness and presence rules.
    public var routing: RoutingSettings
    /// `[[skill]]`, in file order.
    public var skills: [SkillSettings]
    /// `[[gateway]]`, in file order.
    public var gateways: [GatewaySettings]
    /// `[auto_reply]`: what the daemon says to buyers by itself.
    public var autoReplies: AutoReplySettings
    /// `[[manager]]`, in file order: supervisors' powers, and the top of the escalation ladder.
    public var managers: [SupervisorSettings]
    /// `[[escalation]]`, in file order; nil: the trade's ladder (at the breach, 30 min and 2 h later).
    public var escalation: [EscalationSettings]?
    /// `[business_hours]`; nil (no section): SLA clocks always run.
    public var businessHours: BusinessHoursSettings?
    /// `[cluster]` (main file only); nil: a node of its own.
    public var cluster: ClusterSettings?
    /// `[http]` (main file only); nil: no HTTP listener.
    public var http: HTTPSettings?
    /// `[csat]`: the satisfaction survey at a close.
    public var satisfaction = SatisfactionSettings()
    /// `[retention]`: how long the texts of closed conversations are kept (off by default: for ever).
    public var retention = RetentionSettings()
    /// `[replay]`: how long the input journal (what `kefuctl replay` runs) is kept.
    public var replay = ReplaySettings()

    /// Creates a configuration directly, without validation (for tests and embedding).
    public init(
        server: ServerSettings = ServerSettings(),
        sla: SLASettings = SLASettings(),
        customers: CustomerSettings,
        agents: [AgentSettings] = [],
        supervisors: [SupervisorSettings] = [],
        routing: RoutingSettings = RoutingSettings(),
        skills: [SkillSettings] = [],
        gateways: [GatewaySettings] = [],
        autoReplies: AutoReplySettings = AutoReplySettings(),
        managers: [SupervisorSettings] = [],
        escalation: [EscalationSettings]? = nil,
        businessHours: BusinessHoursSettings? = nil
    ) {
        self.businessHours = businessHours
        self.autoReplies = autoReplies
        self.managers = managers
        self.escalation = escalation
        self.server = server
        self.sla = sla
        self.customers = customers
        self.agents = agents
        self.supervisors = supervisors
        self.routing = routing
        self.skills = skills
        self.gateways = gateways
    }

    /// Reads and validates the configuration file at `path`; errors name `path` as given.
    public static func load(path: String, kind: ConfigurationFile = .main) throws(ConfigError) -> KefuConfiguration {
        try parse(text(at: path), file: path, kind: kind)
    }

    /// The file's text; errors name `path` as given.
    public static func text(at path: String) throws(ConfigError) -> String {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigError(file: path, message: "cannot read the file: \(Self.reason(for: error, path: path))")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, message: "the file is not valid UTF-8")
        }
        return text
    }

    /// Parses and validates configuration `text`; errors name `file`.
    public static func parse(_ text: String, file: String, kind: ConfigurationFile = .main) throws(ConfigError)
        -> KefuConfiguration
    {
        try ConfigurationDecoder.decode(TOMLDocument(parsing: text, file: file), kind: kind)
    }

    /// Validates an already parsed document.
    public init(document: TOMLDocument) throws(ConfigError) {
        self = try ConfigurationDecoder.decode(document)
    }

    // Foundation's messages for a missing file vary by platform; say plainly what the common cases are.
    static func reason(for error: any Error, path: String) -> String {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            return "no such file"
        }
        if isDirectory.boolValue {
            return "it is a directory"
        }
        if !FileManager.default.isReadableFile(atPath: path) {
            return "permission denied"
        }
        return error.localizedDescription
    }
}

/// `[server]`: the listener and process settings. Every key is optional.
public struct ServerSettings: Sendable, Equatable {
    /// The default `listen`: loopback only, so a fresh install is not reachable from the network.
    public static let defaultListen = ListenAddress(host: "127.0.0.1", port: 7390)
    /// The default `max_line_bytes`.
    public static let defaultMaxLineBytes = 16_384
    /// The smallest `max_line_bytes` accepted: below this not even a login line fits.
    public static let minimumMaxLineBytes = 64
    /// The largest `max_line_bytes` accepted (16 MiB): one line is buffered whole in memory.
    public static let maximumMaxLineBytes = 16 << 20
    /// The default `shutdown_grace_s`.
    public static let defaultShutdownGraceSeconds = 5.0

    /// `listen`: the address to accept plaintext connections on.
    public var listen: ListenAddress
    /// False when `listen_tls` is given and `listen` is not: TLS instead of plaintext, not beside it.
    public var listensPlaintext = true
    /// `listen_tls` and its certificate keys: a TLS listener beside (or instead of) the plaintext one.
    public var tls: TLSSettings?
    /// `state_dir`, as written; nil when absent, in which case kefud picks `$STATE_DIRECTORY` or `./var`.
    public var stateDirectory: String?
    /// `max_line_bytes`: the longest protocol line accepted, in bytes.
    public var maxLineBytes: Int
    /// `shutdown_grace_s`: how long to let sessions finish on shutdown, in seconds.
    public var shutdownGraceSeconds: Double
    /// `idle_timeout_s`: a connection silent this long is closed (PING keeps it open), so a dead laptop is
    /// noticed; nil (`0` in the file) never closes.
    public var idleTimeoutSeconds: Double? = 300
    /// `max_pipelined`: lines a connection may have sent without their completion yet; beyond it kefud stops reading
    /// the connection until completions go out (TCP slows the client down; it is not dropped).
    public var maxPipelined = ServerSettings.defaultMaxPipelined
    /// `slow_client_bytes`: what a connection has not read yet may stay above this only for `slow_client_grace_s`;
    /// then the connection is closed as too slow (and, at 8 times this, at once).
    public var slowClientBytes = ServerSettings.defaultSlowClientBytes
    /// `slow_client_grace_s`: how long a connection may stay above `slow_client_bytes` unread.
    public var slowClientGraceSeconds = ServerSettings.defaultSlowClientGraceSeconds
    /// `kept_event_bytes`: events kept for one buyer with no connection, at most this many bytes (the oldest go).
    public var keptEventBytes = ServerSettings.defaultKeptEventBytes
    /// `shops_dir`, as written (relative to kefud's working directory): one `<shop>.toml` per further shop the node
    /// serves; nil: the node serves one shop, `default`, described by the main file.
    public var shopsDirectory: String?

    public static let defaultMaxPipelined = 256
    public static let defaultSlowClientBytes = 1 << 20
    public static let defaultSlowClientGraceSeconds = 10.0
    public static let defaultKeptEventBytes = 256 << 10

    /// Creates server settings; every parameter defaults to the value used when the key is absent.
    public init(
        listen: ListenAddress = ServerSettings.defaultListen,
        stateDirectory: String? = nil,
        maxLineBytes: Int = ServerSettings.defaultMaxLineBytes,
        shutdownGraceSeconds: Double = ServerSettings.defaultShutdownGraceSeconds
    ) {
        self.listen = listen
        self.stateDirectory = stateDirectory
        self.maxLineBytes = maxLineBytes
        self.shutdownGraceSeconds = shutdownGraceSeconds
    }
}

/// `[sla]`: service-level targets.
public struct SLASettings: Sendable, Equatable {
    /// The default `first_response_s`.
    public static let defaultFirstResponseSeconds = 120.0
    /// The default `breach_records_per_s`: far inside the unit's journald rate limit (see deploy/kefud.service).
    public static let defaultBreachRecordsPerSecond = 200
    /// The largest `breach_records_per_s` accepted: a typo guard (0, not a huge number, turns summaries off).
    public static let maximumBreachRecordsPerSecond = 100_000

    /// `first_response_s`: how soon an agent must first answer a new chat, in seconds (may be fractional).
    public var firstResponseSeconds: Double
    /// `response_s`: how soon a buyer message after an answer must get the next human answer (every later round);
    /// nil means the same as `first_response_s`.
    public var responseSeconds: Double?
    /// `warn_s`: how long before a round's deadline its holder gets `SLA-WARN`; nil means at 100/180 of the limit
    /// (Taobao's 100 s of a 3-minute round); 0 never.
    public var warnSeconds: Double?
    /// `customer_idle_close_s`: a buyer silent this long after the agent's last message has the conversation closed
    /// by the daemon (warned a minute before); 0 never.
    public var customerIdleCloseSeconds: Double
    /// `max_reassign`: how often the escalation ladder may move one round to another agent (default 2).
    public var maxReassign = 2
    /// `resolution_s`: how long a conversation may stay open in all; nil no limit.
    public var resolutionSeconds: Double?
    /// `[[sla.policy]]`, in file order: limits for the conversations they match (first match wins).
    public var policies: [SLAPolicySettings] = []
    /// `breach_records_per_s`: how many breaches a second get a journald record each; the rest of that second are
    /// listed in a summary record once a second, so a storm cannot make journald drop any. 0: never summarise.
    public var breachRecordsPerSecond = SLASettings.defaultBreachRecordsPerSecond

    /// The default `customer_idle_close_s`: 30 minutes.
    public static let defaultCustomerIdleCloseSeconds = 1800.0

    /// Creates SLA settings.
    public init(
        firstResponseSeconds: Double = SLASettings.defaultFirstResponseSeconds, responseSeconds: Double? = nil,
        warnSeconds: Double? = nil, customerIdleCloseSeconds: Double = SLASettings.defaultCustomerIdleCloseSeconds
    ) {
        self.firstResponseSeconds = firstResponseSeconds
        self.responseSeconds = responseSeconds
        self.warnSeconds = warnSeconds
        self.customerIdleCloseSeconds = customerIdleCloseSeconds
    }
}

/// One `[[sla.policy]]`: which conversations (`skill`, `store`, `priority`, each optional) and their limits (each
/// optional, falling back to the `[sla]` keys).
public struct SLAPolicySettings: Sendable, Equatable {
    public var skill: String?
    public var store: String?
    public var priority: String?
    public var firstResponseSeconds: Double?
    public var responseSeconds: Double?
    public var resolutionSeconds: Double?
    public var warnSeconds: Double?
    /// The hours the policy's clocks count in (`time_zone`, `hours`, `closed_days`, `holidays` in the entry; keys
    /// not given take `[business_hours]`'s defaults); nil: the floor's `[business_hours]`.
    public var businessHours: BusinessHoursSettings?

    public init(
        skill: String? = nil, store: String? = nil, priority: String? = nil, firstResponseSeconds: Double? = nil,
        responseSeconds: Double? = nil, resolutionSeconds: Double? = nil, warnSeconds: Double? = nil
    ) {
        self.skill = skill
        self.store = store
        self.priority = priority
        self.firstResponseSeconds = firstResponseSeconds
        self.responseSeconds = responseSeconds
        self.resolutionSeconds = resolutionSeconds
        self.warnSeconds = warnSeconds
    }
}

/// `[business_hours]`: when SLA clocks run. Defaults: `time_zone = "Asia/Shanghai"`, `hours = "08:00-23:00"` every
/// day, no holidays.
public struct BusinessHoursSettings: Sendable, Equatable {
    public var timeZone: String
    /// The zone's offset from UTC in minutes, resolved when the configuration is read: the offset a year before
    /// that, from which `offsetChanges` go on.
    public var utcOffsetMinutes: Int
    /// The zone's daylight saving time switches from a year before the configuration was read to twenty years
    /// after: from `unixMilliseconds` on, the offset is `minutes`. Empty for Asia/Shanghai.
    public var offsetChanges: [UTCOffsetChange] = []
    /// Opening and closing minute of the day.
    public var opens: Int
    public var closes: Int
    /// `closed_days`: weekdays without hours, 1 = Monday ... 7 = Sunday.
    public var closedWeekdays: [Int]
    /// `holidays`: `YYYY-MM-DD` dates without hours, as days since 1970-01-01.
    public var holidays: [Int]

    public init(
        timeZone: String = "Asia/Shanghai", utcOffsetMinutes: Int = 480, opens: Int = 480, closes: Int = 1380,
        closedWeekdays: [Int] = [], holidays: [Int] = []
    ) {
        self.timeZone = timeZone
        self.utcOffsetMinutes = utcOffsetMinutes
        self.opens = opens
        self.closes = closes
        self.closedWeekdays = closedWeekdays
        self.holidays = holidays
    }
}

/// A time zone's switch of offset (daylight saving time).
public struct UTCOffsetChange: Sendable, Equatable {
    public var unixMilliseconds: Int64
    public var minutes: Int

    public init(unixMilliseconds: Int64, minutes: Int) {
        self.unixMilliseconds = unixMilliseconds
        self.minutes = minutes
    }
}

/// One rung of `[[escalation]]`: `after_s` past the breach, still unanswered, do `actions`.
public struct EscalationSettings: Sendable, Equatable {
    public var afterSeconds: Double
    /// `reassign` (move to another eligible agent), `supervisor`, `manager`.
    public var actions: [String]

    public static let knownActions = ["reassign", "supervisor", "manager"]

    public init(afterSeconds: Double, actions: [String]) {
        self.afterSeconds = afterSeconds
        self.actions = actions
    }
}

/// `[csat]`: the satisfaction survey (满意度) sent to the buyer when a conversation a human answered closes.
public struct SatisfactionSettings: Sendable, Equatable {
    /// `enabled` (default true): false sends none.
    public var enabled = true
    /// `question`: the text of `* CSAT-REQUEST`.
    public var question = "请您对本次服务进行评价:5 非常满意,4 满意,3 一般,2 不满意,1 非常不满意"
    /// `expire_s` (default 86400): how long the buyer may answer.
    public var expireSeconds: Double = 86_400

    public init() {}
}

/// `[retention]`: the shop keeps the texts of a closed conversation (its messages and notes: personal information,
/// PIPL) only so many days after its close; a purge deletes them in small batches off the routing path, keeping every
/// figure the reports read (rounds, ratings, presence, who sent each message when).
public struct RetentionSettings: Sendable, Equatable {
    /// The default `batch`.
    public static let defaultBatch = 500

    /// `closed_after_days`: texts of conversations closed longer ago than this many days are deleted; nil (absent
    /// or 0): kept for ever.
    public var closedAfterDays: Int?
    /// `batch` (default 500): rows one purge transaction may change, so that the routing's commits queued behind it
    /// wait a few milliseconds at most.
    public var batch = RetentionSettings.defaultBatch

    public init(closedAfterDays: Int? = nil, batch: Int = RetentionSettings.defaultBatch) {
        self.closedAfterDays = closedAfterDays
        self.batch = batch
    }

    /// Whether anything is ever purged.
    public var isEnabled: Bool { closedAfterDays != nil }
}

/// `[replay]`: the shop's input journal — every input its routing core took, in the same commit as the records they
/// caused — is kept `keep_days` (default 14; 0: not written at all) for `kefuctl replay` and `kefuctl simulate`.
public struct ReplaySettings: Sendable, Equatable {
    /// The default `keep_days`.
    public static let defaultKeepDays = 14

    /// `keep_days`: rows older than this many days go (a replay starts at the owner's start before them: the run that
    /// began then is kept whole); nil: no journal.
    public var keepDays: Int? = ReplaySettings.defaultKeepDays

    public init(keepDays: Int? = ReplaySettings.defaultKeepDays) {
        self.keepDays = keepDays
    }

    /// Whether the journal is written.
    public var isEnabled: Bool { keepDays != nil }
}

/// `[auto_reply]`: messages sent to the buyer by the daemon itself (`* MSG ... from=system auto=1`). Platforms do not
/// count them as answers, and neither does kefud: they end no response round.
public struct AutoReplySettings: Sendable, Equatable {
    /// `greeting`: sent when a conversation opens (欢迎语); nil sends nothing.
    public var greeting: String?
    /// `queued`: sent when a new conversation has to wait for an agent; nil sends nothing.
    public var queued: String?
    /// `out_of_hours`: sent when a conversation opens outside business hours; nil sends nothing.
    public var outOfHours: String?
    /// `idle_warning` / `idle_close`: sent to a silent buyer a minute before the daemon closes the conversation, and
    /// at the close; nil keeps the built-in Chinese texts.
    public var idleWarning: String?
    public var idleClose: String?

    public init(greeting: String? = nil, queued: String? = nil, idleWarning: String? = nil, idleClose: String? = nil) {
        self.greeting = greeting
        self.queued = queued
        self.idleWarning = idleWarning
        self.idleClose = idleClose
    }
}

/// `[customers]`: customers arrive through a gateway that authenticates with a shared secret.
public struct CustomerSettings: Sendable, Equatable {
    /// `token_sha256`: SHA-256 of the shared secret gateways log buyers in with; nil (left out, with
    /// `signing_key_file` given) turns the shared secret off: buyers then log in only with signed tokens.
    public var tokenSHA256: String?
    /// `signing_key_file`, as written: the file of keys that sign buyers' login tokens; nil: no signed logins.
    public var signingKeyFile: String?
    /// The keys read from `signing_key_file`, the one `kefuctl sign-buyer` signs with first. Several during a
    /// rotation: a token signed with any of them is accepted.
    public var signingKeys: SigningKeys = SigningKeys([])

    /// Creates customer settings; `tokenSHA256` should be 64 lowercase hex digits.
    public init(tokenSHA256: String?, signingKeyFile: String? = nil, signingKeys: SigningKeys = SigningKeys([])) {
        self.tokenSHA256 = tokenSHA256
        self.signingKeyFile = signingKeyFile
        self.signingKeys = signingKeys
    }
}

/// Keys that sign buyers' login tokens. Never printed: their description says only how many there are.
public struct SigningKeys: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The shortest key accepted, in bytes: 256 bits of `openssl rand -hex 32` are 64 characters; anything under 32
    /// is too guessable for an HMAC key.
    public static let minimumBytes = 32
    public let keys: [[UInt8]]

    public init(_ keys: [[UInt8]]) { self.keys = keys }

    public var isEmpty: Bool { keys.isEmpty }
    public var description: String { "<\(keys.count) signing key\(keys.count == 1 ? "" : "s")>" }
    public var debugDescription: String { description }

    /// The keys of a key file's text: one per line (its UTF-8 bytes, surrounding blanks trimmed); blank lines and
    /// lines starting with `#` are skipped. Fails with the line and why.
    public static func parse(_ text: String) -> Result<SigningKeys, KeyFileError> {
        var keys: [[UInt8]] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "\r")))
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard line.utf8.count >= minimumBytes else {
                return .failure(
                    KeyFileError(
                        line: index + 1,
                        message: "a key must be at least \(minimumBytes) characters (openssl rand -hex 32)"))
            }
            keys.append(Array(line.utf8))
        }
        guard !keys.isEmpty else { return .failure(KeyFileError(line: nil, message: "no key in it")) }
        return .success(SigningKeys(keys))
    }

    public struct KeyFileError: Error {
        public var line: Int?
        public var message: String
    }
}

/// One skill of an agent with its proficiency.
public struct SkillLevel: Sendable, Equatable, Hashable {
    /// The lowest proficiency level.
    public static let minimumLevel = 1
    /// The highest proficiency level.
    public static let maximumLevel = 5

    /// The skill name: `[a-z0-9_-]+`.
    public var skill: String
    /// The proficiency, 1 to 5.
    public var level: Int

    /// Creates a skill level.
    public init(skill: String, level: Int) {
        self.skill = skill
        self.level = level
    }
}

/// `[[agent]]`: a person who answers chats.
public struct AgentSettings: Sendable, Equatable {
    /// The largest `max_chats` accepted.
    public static let maximumChats = 1000

    /// `id`: 1 to 64 of `[A-Za-z0-9._-]`, unique among agents and supervisors.
    public var id: String
    /// `name`: the display name; the id when absent.
    public var name: String
    /// `token_sha256`: SHA-256 of the agent's secret, 64 lowercase hex digits.
    public var tokenSHA256: String
    /// `max_chats`: how many chats the agent handles at once, 1 to 1000.
    public var maxChats: Int
    /// `skills`: at least one, sorted by skill name.
    public var skills: [SkillLevel]
    /// `stores`: the storefronts the agent serves (`["tmall", "jd"]`); nil (absent) means all.
    public var stores: [String]?
    /// `languages`: the languages the agent answers in; nil (absent) means any.
    public var languages: [String]?

    /// Creates agent settings; `skills` are sorted by name.
    public init(
        id: String, name: String? = nil, tokenSHA256: String, maxChats: Int, skills: [SkillLevel],
        stores: [String]? = nil, languages: [String]? = nil
    ) {
        self.id = id
        self.name = name ?? id
        self.tokenSHA256 = tokenSHA256
        self.maxChats = maxChats
        self.skills = skills.sorted { $0.skill < $1.skill }
        self.stores = stores
        self.languages = languages
    }

    /// The skills as a dictionary from skill name to level.
    public var skillLevels: [String: Int] {
        Dictionary(skills.map { ($0.skill, $0.level) }, uniquingKeysWith: { first, _ in first })
    }

    /// The agent's level in `skill`, or nil when the agent lacks it.
    public func level(of skill: String) -> Int? {
        skills.first { $0.skill == skill }?.level
    }
}

/// `[[supervisor]]`: a person who watches queues and agents.
public struct SupervisorSettings: Sendable, Equatable {
    /// `id`: 1 to 64 of `[A-Za-z0-9._-]`, unique among supervisors and agents.
    public var id: String
    /// `name`: the display name; the id when absent.
    public var name: String
    /// `token_sha256`: SHA-256 of the supervisor's secret, 64 lowercase hex digits.
    public var tokenSHA256: String

    /// Creates supervisor settings.
    public init(id: String, name: String? = nil, tokenSHA256: String) {
        self.id = id
        self.name = name ?? id
        self.tokenSHA256 = tokenSHA256
    }
}
