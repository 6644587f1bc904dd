/// `[routing]`: how the router balances fairness, continuity and presence. Every key is optional.
public struct RoutingSettings: Sendable, Equatable {
    /// `sticky_window_s`: a returning buyer (老客户) whose last chat closed this recently goes back to that agent.
    public var stickyWindowSeconds: Double = 72 * 3600
    /// `sticky_wait_s`: how long a returning buyer waits for their agent when that agent is online but full.
    public var stickyWaitSeconds: Double = 0
    /// `vip_boost_s`: a vip counts as having waited this much longer, so vips go first without starving others.
    public var vipBoostSeconds: Double = 600
    /// `wrap_up_s`: how long a slot stays busy after a chat closes (notes, after-work).
    public var wrapUpSeconds: Double = 0
    /// `reconnect_grace_s`: how long a dropped agent keeps its chats before they are requeued at the front.
    public var reconnectGraceSeconds: Double = 60
    /// `auto_away_breaches`: breaches within `auto_away_window_s` after which an agent is set away (空挂).
    public var autoAwayBreaches: Int = 2
    /// `auto_away_window_s`: the window the breaches are counted in.
    public var autoAwayWindowSeconds: Double = 600

    public init() {}
}

/// `[[skill]]`: rules for one skill (技能组). Skills agents list without a `[[skill]]` entry take the defaults.
public struct SkillSettings: Sendable, Equatable {
    /// `name`: the skill, as agents list it.
    public var name: String
    /// `min_level`: the lowest proficiency that may take this skill's chats (complaints: seniors only).
    public var minLevel: Int
    /// `widen_after_s`: after this wait `min_level` drops to 1; after twice this wait, `fallback` skills may serve.
    public var widenAfterSeconds: Double?
    /// `fallback`: skills whose agents may take this skill's chats once widened (e.g. `aftersales`).
    public var fallback: [String]
    /// `max_queue`: more waiting chats than this and `OPEN` answers `busy`.
    public var maxQueue: Int?

    public init(
        name: String, minLevel: Int = 1, widenAfterSeconds: Double? = nil, fallback: [String] = [], maxQueue: Int? = nil
    ) {
        self.name = name
        self.minLevel = minLevel
        self.widenAfterSeconds = widenAfterSeconds
        self.fallback = fallback
        self.maxQueue = maxQueue
    }
}

/// `[[gateway]]`: a platform bridge that brings many buyers over one connection.
public struct GatewaySettings: Sendable, Equatable {
    /// `id`: 1 to 64 of `[A-Za-z0-9._-]`, unique among gateways.
    public var id: String
    /// `name`: the display name; the id when absent.
    public var name: String
    /// `token_sha256`: SHA-256 of the gateway's secret.
    public var tokenSHA256: String

    public init(id: String, name: String? = nil, tokenSHA256: String) {
        self.id = id
        self.name = name ?? id
        self.tokenSHA256 = tokenSHA256
    }
}
