import Foundation

/// Turns a parsed document into a validated `KefuConfiguration`.
///
/// Each section is one `decode(_:)` function taking a `TableReader`; adding a section (say `[business_hours]`) means
/// writing that function and calling it from `decode(_:)` below. Until then its table is reported as unknown.
enum ConfigurationDecoder {
    static func decode(_ document: TOMLDocument, kind: ConfigurationFile = .main) throws(ConfigError)
        -> KefuConfiguration
    {
        let root = TableReader(table: document.root, path: "", file: document.file)
        if kind == .shop, let node = ["server", "cluster", "http"].lazy.compactMap({ document.root.entry($0) }).first {
            // One shop's file describes its team; where and how the node listens is the node's, not the shop's.
            throw ConfigError(
                file: document.file, line: node.line, key: node.key,
                message: "belongs in kefud's main configuration file, not in a shop's file")
        }
        let server = try ServerSettings.decode(root.section("server"))
        let cluster = try root.entry("cluster").map { _ throws(ConfigError) in
            try ClusterSettings.decode(root.section("cluster"))
        }
        let http = try root.entry("http").map { _ throws(ConfigError) in
            try HTTPSettings.decode(root.section("http"))
        }
        let sla = try SLASettings.decode(root.section("sla"))
        let customers = try CustomerSettings.decode(root.requiredSection("customers"))
        let agents = try root.sectionArray("agent").map(AgentSettings.decode)
        let supervisors = try root.sectionArray("supervisor").map(SupervisorSettings.decode)
        let routing = try RoutingSettings.decode(root.section("routing"))
        let skills = try root.sectionArray("skill").map(SkillSettings.decode)
        let gateways = try root.sectionArray("gateway").map(GatewaySettings.decode)
        let autoReplies = try AutoReplySettings.decode(root.section("auto_reply"))
        let satisfaction = try SatisfactionSettings.decode(root.section("csat"))
        let managers = try root.sectionArray("manager").map(SupervisorSettings.decode)
        let escalation = try root.sectionArray("escalation").map(EscalationSettings.decode)
        let businessHours = try root.entry("business_hours").map { _ throws(ConfigError) in
            try BusinessHoursSettings.decode(root.section("business_hours"))
        }
        let retention = try RetentionSettings.decode(root.section("retention"))
        let replay = try ReplaySettings.decode(root.section("replay"))
        try root.finish()
        try checkManagers(
            managers, others: agents.map(\.settings.id) + supervisors.map(\.settings.id),
            file: document.file)
        try checkLadder(escalation, file: document.file)
        try checkUniqueIDs(agents: agents, supervisors: supervisors, file: document.file)
        try checkSkills(skills, agents: agents.map(\.settings), file: document.file)
        try checkUnique(gateways.map { ($0.settings.id, $0.idLine) }, table: "gateway", file: document.file)
        var configuration = KefuConfiguration(
            server: server,
            sla: sla,
            customers: customers,
            agents: agents.map(\.settings),
            supervisors: supervisors.map(\.settings),
            routing: routing,
            skills: skills.map(\.settings),
            gateways: gateways.map(\.settings),
            autoReplies: autoReplies,
            managers: managers.map(\.settings),
            escalation: escalation.isEmpty ? nil : escalation.map(\.settings),
            businessHours: businessHours
        )
        configuration.cluster = cluster
        configuration.http = http
        configuration.satisfaction = satisfaction
        configuration.retention = retention
        configuration.replay = replay
        return configuration
    }

    /// Manager ids are unique and name nobody else.
    private static func checkManagers(
        _ managers: [(settings: SupervisorSettings, idLine: Int)], others: [String], file: String
    ) throws(ConfigError) {
        try checkUnique(managers.map { ($0.settings.id, $0.idLine) }, table: "manager", file: file)
        for (index, manager) in managers.enumerated() where others.contains(manager.settings.id) {
            throw ConfigError(
                file: file, line: manager.idLine, key: "manager[\(index)].id",
                message: "id \"\(manager.settings.id)\" is already used by an agent or supervisor"
            )
        }
    }

    /// The ladder climbs: each rung comes later than the one before.
    private static func checkLadder(
        _ ladder: [(settings: EscalationSettings, afterLine: Int)], file: String
    ) throws(ConfigError) {
        for index in ladder.indices.dropFirst()
        where ladder[index].settings.afterSeconds <= ladder[index - 1].settings.afterSeconds {
            throw ConfigError(
                file: file, line: ladder[index].afterLine, key: "escalation[\(index)].after_s",
                message: "must be later than the rung before it (escalation[\(index - 1)])"
            )
        }
    }

    /// `[[skill]]` names are unique, and every fallback names a skill that exists (an agent has it or it has its
    /// own `[[skill]]`): a fallback nobody can serve would widen into nothing.
    private static func checkSkills(
        _ skills: [(settings: SkillSettings, nameLine: Int, fallbackLine: Int?)], agents: [AgentSettings],
        file: String
    ) throws(ConfigError) {
        try checkUnique(skills.map { ($0.settings.name, $0.nameLine) }, table: "skill", key: "name", file: file)
        let known = Set(agents.flatMap { $0.skills.map(\.skill) }).union(skills.map(\.settings.name))
        for (index, skill) in skills.enumerated() {
            for fallback in skill.settings.fallback where !known.contains(fallback) || fallback == skill.settings.name {
                throw ConfigError(
                    file: file, line: skill.fallbackLine, key: "skill[\(index)].fallback",
                    message: fallback == skill.settings.name
                        ? "a skill cannot fall back to itself"
                        : "unknown skill \"\(fallback)\": no agent has it and it has no [[skill]] of its own"
                )
            }
        }
    }

    /// Values of one key are unique across the entries of an array of tables.
    private static func checkUnique(
        _ values: [(value: String, line: Int)], table: String, key: String = "id", file: String
    ) throws(ConfigError) {
        var seen: [String: Int] = [:]
        for (index, entry) in values.enumerated() {
            if let first = seen[entry.value] {
                throw ConfigError(
                    file: file, line: entry.line, key: "\(table)[\(index)].\(key)",
                    message: "duplicate \(table) \(key) \"\(entry.value)\" (also \(table)[\(first)])"
                )
            }
            seen[entry.value] = index
        }
    }

    /// Agent ids are unique, supervisor ids too, and no supervisor shares an id with an agent: an id names one
    /// person when someone logs in.
    private static func checkUniqueIDs(
        agents: [(settings: AgentSettings, idLine: Int)],
        supervisors: [(settings: SupervisorSettings, idLine: Int)],
        file: String
    ) throws(ConfigError) {
        var seen: [String: (path: String, line: Int)] = [:]
        for (index, agent) in agents.enumerated() {
            let path = "agent[\(index)]"
            // `* ESCALATED ... agent=none` means "no agent": an agent called none would be indistinguishable.
            if agent.settings.id == "none" {
                throw ConfigError(
                    file: file, line: agent.idLine, key: "\(path).id",
                    message: "the agent id \"none\" is reserved (events say agent=none when no agent holds a chat)"
                )
            }
            if let first = seen[agent.settings.id] {
                throw ConfigError(
                    file: file, line: agent.idLine, key: "\(path).id",
                    message: "duplicate agent id \"\(agent.settings.id)\" (also \(first.path), line \(first.line))"
                )
            }
            seen[agent.settings.id] = (path, agent.idLine)
        }
        for (index, supervisor) in supervisors.enumerated() {
            let path = "supervisor[\(index)]"
            if let first = seen[supervisor.settings.id] {
                let message =
                    first.path.hasPrefix("agent")
                    ? "id \"\(supervisor.settings.id)\" is already used by \(first.path) (line \(first.line)); "
                        + "agent and supervisor ids must differ"
                    : "duplicate supervisor id \"\(supervisor.settings.id)\" (also \(first.path), line \(first.line))"
                throw ConfigError(file: file, line: supervisor.idLine, key: "\(path).id", message: message)
            }
            seen[supervisor.settings.id] = (path, supervisor.idLine)
        }
    }
}

// MARK: - Sections

extension ServerSettings {
    static func decode(_ reader: TableReader) throws(ConfigError) -> ServerSettings {
        var settings = ServerSettings()
        let listen = try reader.optional("listen", .string)
        if let listen {
            switch ListenAddress.parse(listen.value) {
            case .success(let address):
                settings.listen = address
            case .failure(let failure):
                throw reader.error("listen", line: listen.line, failure.message)
            }
        }
        settings.tls = try TLSSettings.decode(reader)
        settings.listensPlaintext = listen != nil || settings.tls == nil
        if let directory = try reader.optional("state_dir", .string) {
            guard !directory.value.isEmpty else {
                throw reader.error("state_dir", line: directory.line, "must not be empty; leave it out for the default")
            }
            settings.stateDirectory = directory.value
        }
        settings.maxLineBytes =
            try reader.integer(
                "max_line_bytes", in: minimumMaxLineBytes...maximumMaxLineBytes
            ) ?? defaultMaxLineBytes
        settings.shutdownGraceSeconds =
            try reader.seconds("shutdown_grace_s", allowZero: true)
            ?? defaultShutdownGraceSeconds
        if let idle = try reader.seconds("idle_timeout_s", allowZero: true) {
            settings.idleTimeoutSeconds = idle == 0 ? nil : idle
        }
        settings.maxPipelined = try reader.integer("max_pipelined", in: 1...1_000_000) ?? defaultMaxPipelined
        settings.slowClientBytes =
            try reader.integer("slow_client_bytes", in: 4096...(1 << 30)) ?? defaultSlowClientBytes
        settings.slowClientGraceSeconds =
            try reader.seconds("slow_client_grace_s", allowZero: true) ?? defaultSlowClientGraceSeconds
        settings.keptEventBytes = try reader.integer("kept_event_bytes", in: 1024...(1 << 30)) ?? defaultKeptEventBytes
        if let directory = try reader.optional("shops_dir", .string) {
            guard !directory.value.isEmpty else {
                throw reader.error("shops_dir", line: directory.line, "must not be empty; leave it out for one shop")
            }
            settings.shopsDirectory = directory.value
        }
        try reader.finish()
        return settings
    }
}

extension SLASettings {
    static func decode(_ reader: TableReader) throws(ConfigError) -> SLASettings {
        let firstResponse = try reader.seconds("first_response_s", allowZero: false) ?? defaultFirstResponseSeconds
        let response = try reader.seconds("response_s", allowZero: false)
        let warn = try reader.seconds("warn_s", allowZero: true)
        let idle = try reader.seconds("customer_idle_close_s", allowZero: true) ?? defaultCustomerIdleCloseSeconds
        let maxReassign = try reader.integer("max_reassign", in: 0...100) ?? 2
        let resolution = try reader.seconds("resolution_s", allowZero: false)
        let policies = try reader.sectionArray("policy").map(SLAPolicySettings.decode)
        let records =
            try reader.integer("breach_records_per_s", in: 0...maximumBreachRecordsPerSecond)
            ?? defaultBreachRecordsPerSecond
        try reader.finish()
        var settings = SLASettings(
            firstResponseSeconds: firstResponse, responseSeconds: response, warnSeconds: warn,
            customerIdleCloseSeconds: idle
        )
        settings.maxReassign = maxReassign
        settings.resolutionSeconds = resolution
        settings.policies = policies
        settings.breachRecordsPerSecond = records
        return settings
    }
}

extension CustomerSettings {
    /// `token_sha256` (the shared secret's hash) and/or `signing_key_file` (signed buyer logins); at least one. The
    /// key file is read here, so a reload reads it again (a rotation adds a key, then later removes the old one).
    static func decode(_ reader: TableReader) throws(ConfigError) -> CustomerSettings {
        let keyFile = try reader.optional("signing_key_file", .string)
        let token = keyFile == nil || reader.entry("token_sha256") != nil ? try reader.tokenHash("token_sha256") : nil
        var settings = CustomerSettings(tokenSHA256: token)
        if let keyFile {
            let text: String
            do {
                text = try String(contentsOfFile: keyFile.value, encoding: .utf8)
            } catch {
                throw reader.error("signing_key_file", line: keyFile.line, "cannot read \(keyFile.value)")
            }
            switch SigningKeys.parse(text) {
            case .success(let keys):
                settings.signingKeyFile = keyFile.value
                settings.signingKeys = keys
            case .failure(let failure):
                let place = failure.line.map { "\(keyFile.value) line \($0)" } ?? keyFile.value
                throw reader.error("signing_key_file", line: keyFile.line, "\(place): \(failure.message)")
            }
        }
        try reader.finish()
        return settings
    }
}

extension AgentSettings {
    static func decode(_ reader: TableReader) throws(ConfigError) -> (settings: AgentSettings, idLine: Int) {
        let id = try reader.identifier("id")
        let name = try reader.displayName("name")
        let token = try reader.tokenHash("token_sha256")
        guard let maxChats = try reader.integer("max_chats", in: 1...maximumChats) else {
            throw reader.missing("max_chats")
        }
        let skills = try decodeSkills(reader)
        let stores = try reader.names("stores", kind: "store")
        let languages = try reader.names("languages", kind: "language")
        try reader.finish()
        let settings = AgentSettings(
            id: id.value, name: name, tokenSHA256: token, maxChats: maxChats, skills: skills,
            stores: stores?.value, languages: languages?.value
        )
        return (settings, id.line)
    }

    /// `skills = { presales = 2, refund = 3 }`: at least one skill, each with a level from 1 to 5.
    private static func decodeSkills(_ reader: TableReader) throws(ConfigError) -> [SkillLevel] {
        let table = try reader.required("skills", .table)
        guard !table.value.isEmpty else {
            throw reader.error("skills", line: table.line, "must list at least one skill, e.g. { presales = 3 }")
        }
        let skills = TableReader(table: table.value, path: reader.keyPath("skills"), file: reader.file)
        var levels: [SkillLevel] = []
        let levelRange = SkillLevel.minimumLevel...SkillLevel.maximumLevel
        for entry in table.value.entries {
            let name = entry.key.utf8
            guard (1...64).contains(name.count),
                name.allSatisfy({ $0.isASCIIDigit || (0x61...0x7A).contains($0) || $0 == 0x5F || $0 == 0x2D })
            else {
                throw skills.error(entry.key, line: entry.line, "invalid skill name; use 1 to 64 of a-z 0-9 _ -")
            }
            guard case .integer(let level) = entry.value else {
                throw skills.error(
                    entry.key, line: entry.line,
                    "expected an integer skill level from \(levelRange.lowerBound) to \(levelRange.upperBound), "
                        + "found \(TableReader.describe(entry.value))"
                )
            }
            guard let level = Int(exactly: level), levelRange.contains(level) else {
                throw skills.error(
                    entry.key, line: entry.line,
                    "unknown skill level \(level); levels are \(levelRange.lowerBound) to \(levelRange.upperBound)"
                )
            }
            levels.append(SkillLevel(skill: entry.key, level: level))
        }
        return levels
    }
}

extension BusinessHoursSettings {
    static let weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    /// The keys of a calendar, in `[business_hours]` or in an `[[sla.policy]]` entry.
    static let keys = ["time_zone", "hours", "closed_days", "holidays"]

    static func decode(_ reader: TableReader, finish: Bool = true) throws(ConfigError) -> BusinessHoursSettings {
        var settings = BusinessHoursSettings()
        if let zone = try reader.optional("time_zone", .string) {
            guard let found = TimeZone(identifier: zone.value) else {
                throw reader.error("time_zone", line: zone.line, "unknown time zone; use a name like Asia/Shanghai")
            }
            settings.timeZone = zone.value
            // The offset from a year back, and every switch from then to twenty years on: clocks keep the zone's
            // daylight saving time without a reload (and restored rounds from last year count right).
            let from = Date().addingTimeInterval(-366 * 86_400)
            let until = from.addingTimeInterval(21 * 366 * 86_400)
            settings.utcOffsetMinutes = found.secondsFromGMT(for: from) / 60
            var cursor = from
            while let next = found.nextDaylightSavingTimeTransition(after: cursor), next < until {
                settings.offsetChanges.append(
                    UTCOffsetChange(
                        unixMilliseconds: Int64((next.timeIntervalSince1970 * 1000).rounded()),
                        minutes: found.secondsFromGMT(for: next) / 60))
                cursor = next
            }
        }
        if let hours = try reader.optional("hours", .string) {
            let parts = hours.value.split(separator: "-").map { minute(of: String($0)) }
            guard parts.count == 2, let opens = parts[0], let closes = parts[1], opens < closes else {
                throw reader.error("hours", line: hours.line, "expected \"HH:MM-HH:MM\" with the opening first")
            }
            settings.opens = opens
            settings.closes = closes
        }
        if let entry = reader.entry("closed_days") {
            guard case .array(let values) = entry.value else {
                throw reader.error("closed_days", line: entry.line, "expected an array like [\"sun\"]")
            }
            for value in values {
                guard let name = value.stringValue, let index = weekdays.firstIndex(of: name) else {
                    throw reader.error(
                        "closed_days", line: entry.line, "weekdays are \(weekdays.joined(separator: ", "))")
                }
                settings.closedWeekdays.append(index + 1)
            }
        }
        if let entry = reader.entry("holidays") {
            guard case .array(let values) = entry.value else {
                throw reader.error("holidays", line: entry.line, "expected an array of \"YYYY-MM-DD\" dates")
            }
            for value in values {
                guard let text = value.stringValue, let day = day(of: text) else {
                    throw reader.error("holidays", line: entry.line, "expected \"YYYY-MM-DD\" dates")
                }
                settings.holidays.append(day)
            }
        }
        if finish { try reader.finish() }
        return settings
    }

    /// "08:00" → 480; "24:00" is the end of the day.
    static func minute(of text: String) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, parts.allSatisfy({ $0.count == 2 }), let hour = Int(parts[0]),
            let minute = Int(parts[1]),
            (0...24).contains(hour), (0...59).contains(minute), hour * 60 + minute <= 1440
        else { return nil }
        return hour * 60 + minute
    }

    /// The days of `month` in `year` of the Gregorian calendar: a holiday on 2026-02-31 is a typo, not a day.
    static func daysIn(_ month: Int, of year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// "2026-10-01" → days since 1970-01-01 (the civil calendar, no time zone). Exactly `YYYY-MM-DD` in digits: a
    /// longer year (`"006309187226049708032-02-06"`, found by the configuration fuzz target) overflowed the day count
    /// and trapped instead of being refused.
    static func day(of text: String) -> Int? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3,
            zip(parts, [4, 2, 2]).allSatisfy({ $0.utf8.count == $1 && $0.utf8.allSatisfy { (48...57).contains($0) } }),
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
            (1...12).contains(month), (1...daysIn(month, of: year)).contains(day)
        else { return nil }
        // Days from civil (Howard Hinnant's algorithm).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

extension SLAPolicySettings {
    static func decode(_ reader: TableReader) throws(ConfigError) -> SLAPolicySettings {
        var policy = SLAPolicySettings()
        for key in ["skill", "store"] {
            guard let located = try reader.optional(key, .string) else { continue }
            guard TableReader.isName(located.value) else {
                throw reader.error(key, line: located.line, "expected 1 to 64 of a-z 0-9 _ -")
            }
            if key == "skill" { policy.skill = located.value } else { policy.store = located.value }
        }
        if let located = try reader.optional("priority", .string) {
            guard ["normal", "vip"].contains(located.value) else {
                throw reader.error("priority", line: located.line, "expected normal or vip")
            }
            policy.priority = located.value
        }
        policy.firstResponseSeconds = try reader.seconds("first_response_s", allowZero: false)
        policy.responseSeconds = try reader.seconds("response_s", allowZero: false)
        policy.resolutionSeconds = try reader.seconds("resolution_s", allowZero: false)
        policy.warnSeconds = try reader.seconds("warn_s", allowZero: true)
        if BusinessHoursSettings.keys.contains(where: { reader.entry($0) != nil }) {
            policy.businessHours = try BusinessHoursSettings.decode(reader, finish: false)
        }
        try reader.finish()
        return policy
    }
}

extension EscalationSettings {
    static func decode(_ reader: TableReader) throws(ConfigError) -> (settings: EscalationSettings, afterLine: Int) {
        let after = try reader.required("after_s", .number)
        guard after.value.isFinite, after.value >= 0 else {
            throw reader.error("after_s", line: after.line, "expected seconds, 0 or more")
        }
        guard after.value <= TableReader.maximumSeconds else {
            throw reader.error(
                "after_s", line: after.line,
                "expected seconds, at most \(Int(TableReader.maximumSeconds)) (ten years); found \(after.value)")
        }
        guard let entry = reader.entry("actions") else { throw reader.missing("actions") }
        guard case .array(let values) = entry.value, !values.isEmpty else {
            throw reader.error(
                "actions", line: entry.line,
                "expected a non-empty array of \(EscalationSettings.knownActions.joined(separator: ", "))")
        }
        var actions: [String] = []
        for value in values {
            guard let action = value.stringValue, EscalationSettings.knownActions.contains(action) else {
                throw reader.error(
                    "actions", line: entry.line,
                    "unknown action; actions are \(EscalationSettings.knownActions.joined(separator: ", "))")
            }
            if !actions.contains(action) { actions.append(action) }
        }
        try reader.finish()
        return (EscalationSettings(afterSeconds: after.value, actions: actions), after.line)
    }
}

extension SatisfactionSettings {
    static func decode(_ reader: TableReader) throws(ConfigError) -> SatisfactionSettings {
        var settings = SatisfactionSettings()
        settings.enabled = try reader.optional("enabled", .boolean)?.value ?? settings.enabled
        settings.question = try reader.message("question") ?? settings.question
        settings.expireSeconds = try reader.seconds("expire_s", allowZero: false) ?? settings.expireSeconds
        try reader.finish()
        return settings
    }
}

extension RetentionSettings {
    /// The longest `closed_after_days`: a hundred years (beyond it, say nothing: keeping for ever is the default).
    static let maximumDays = 36_500

    static func decode(_ reader: TableReader) throws(ConfigError) -> RetentionSettings {
        var settings = RetentionSettings()
        let days = try reader.integer("closed_after_days", in: 0...maximumDays)
        settings.closedAfterDays = days == 0 ? nil : days
        settings.batch = try reader.integer("batch", in: 10...10_000) ?? settings.batch
        try reader.finish()
        return settings
    }
}

extension ReplaySettings {
    static func decode(_ reader: TableReader) throws(ConfigError) -> ReplaySettings {
        var settings = ReplaySettings()
        if let days = try reader.integer("keep_days", in: 0...RetentionSettings.maximumDays) {
            settings.keepDays = days == 0 ? nil : days
        }
        try reader.finish()
        return settings
    }
}

extension AutoReplySettings {
    static func decode(_ reader: TableReader) throws(ConfigError) -> AutoReplySettings {
        var settings = AutoReplySettings(
            greeting: try reader.message("greeting"), queued: try reader.message("queued"),
            idleWarning: try reader.message("idle_warning"), idleClose: try reader.message("idle_close")
        )
        settings.outOfHours = try reader.message("out_of_hours")
        try reader.finish()
        return settings
    }
}

extension RoutingSettings {
    static func decode(_ reader: TableReader) throws(ConfigError) -> RoutingSettings {
        var settings = RoutingSettings()
        let defaults = settings
        settings.stickyWindowSeconds =
            try reader.seconds("sticky_window_s", allowZero: true)
            ?? defaults.stickyWindowSeconds
        settings.stickyWaitSeconds = try reader.seconds("sticky_wait_s", allowZero: true) ?? defaults.stickyWaitSeconds
        settings.vipBoostSeconds = try reader.seconds("vip_boost_s", allowZero: true) ?? defaults.vipBoostSeconds
        settings.wrapUpSeconds = try reader.seconds("wrap_up_s", allowZero: true) ?? defaults.wrapUpSeconds
        settings.reconnectGraceSeconds =
            try reader.seconds("reconnect_grace_s", allowZero: true)
            ?? defaults.reconnectGraceSeconds
        settings.autoAwayBreaches = try reader.integer("auto_away_breaches", in: 0...1000) ?? defaults.autoAwayBreaches
        settings.autoAwayWindowSeconds =
            try reader.seconds("auto_away_window_s", allowZero: false)
            ?? defaults.autoAwayWindowSeconds
        try reader.finish()
        return settings
    }
}

extension SkillSettings {
    static func decode(
        _ reader: TableReader
    ) throws(ConfigError) -> (settings: SkillSettings, nameLine: Int, fallbackLine: Int?) {
        let name = try reader.required("name", .string)
        guard TableReader.isName(name.value) else {
            throw reader.error("name", line: name.line, "invalid skill name; use 1 to 64 of a-z 0-9 _ -")
        }
        var settings = SkillSettings(name: name.value)
        settings.minLevel =
            try reader.integer("min_level", in: SkillLevel.minimumLevel...SkillLevel.maximumLevel)
            ?? settings.minLevel
        settings.widenAfterSeconds = try reader.seconds("widen_after_s", allowZero: false)
        let fallback = try reader.names("fallback", kind: "skill")
        settings.fallback = fallback?.value ?? []
        settings.maxQueue = try reader.integer("max_queue", in: 1...10_000_000)
        try reader.finish()
        return (settings, name.line, fallback?.line)
    }
}

/// A table that is only a login: `id`, optional `name`, `token_sha256` (supervisors, gateways).
struct LoginTable {
    let id: Located<String>
    let name: String?
    let token: String

    init(_ reader: TableReader) throws(ConfigError) {
        id = try reader.identifier("id")
        name = try reader.displayName("name")
        token = try reader.tokenHash("token_sha256")
        try reader.finish()
    }
}

extension GatewaySettings {
    static func decode(_ reader: TableReader) throws(ConfigError) -> (settings: GatewaySettings, idLine: Int) {
        let login = try LoginTable(reader)
        return (GatewaySettings(id: login.id.value, name: login.name, tokenSHA256: login.token), login.id.line)
    }
}

extension SupervisorSettings {
    static func decode(_ reader: TableReader) throws(ConfigError) -> (settings: SupervisorSettings, idLine: Int) {
        let login = try LoginTable(reader)
        return (SupervisorSettings(id: login.id.value, name: login.name, tokenSHA256: login.token), login.id.line)
    }
}

// MARK: - Reading tables

/// A value together with the line of its key.
struct Located<Value> {
    let value: Value
    let line: Int
}

/// A TOML type a key is expected to have, named for error messages.
struct ValueType<Value> {
    /// With its article, as in "expected a string".
    let name: String
    let extract: (TOMLValue) -> Value?
}

extension ValueType where Value == String {
    static var string: Self { Self(name: "a string", extract: \.stringValue) }
}

extension ValueType where Value == Int64 {
    static var integer: Self { Self(name: "an integer", extract: \.integerValue) }
}

extension ValueType where Value == Double {
    /// An integer or a float.
    static var number: Self { Self(name: "a number", extract: \.doubleValue) }
}

extension ValueType where Value == Bool {
    static var boolean: Self { Self(name: "true or false", extract: \.boolValue) }
}

extension ValueType where Value == TOMLTable {
    static var table: Self { Self(name: "a table", extract: \.tableValue) }
}

/// Reads one table of the configuration and remembers which keys were asked for, so that `finish()` can report
/// every other key as unknown: a typo like `max_chat` must not be silently ignored.
final class TableReader {
    let table: TOMLTable
    /// The key path of this table for messages: empty for the root, `server`, `agent[1]`, `agent[1].skills`.
    let path: String
    let file: String
    private var known: [String] = []

    init(table: TOMLTable, path: String, file: String) {
        self.table = table
        self.path = path
        self.file = file
    }

    /// The full key path of `key` in this table, e.g. `agent[1].max_chats`.
    func keyPath(_ key: String) -> String {
        path.isEmpty ? TOMLKey.format(key) : "\(path).\(TOMLKey.format(key))"
    }

    /// An error about `key` of this table.
    func error(_ key: String, line: Int?, _ message: String) -> ConfigError {
        ConfigError(file: file, line: line, key: keyPath(key), message: message)
    }

    /// The entry for `key`, which thereby becomes a known key.
    func entry(_ key: String) -> TOMLTable.Entry? {
        if !known.contains(key) {
            known.append(key)
        }
        return table.entry(key)
    }

    /// The error for a required key that is absent, on the line of the table's header.
    func missing(_ key: String) -> ConfigError {
        _ = entry(key)
        var message = "missing required key"
        if let typo = likelyTypo(of: key) {
            message += " (is \(TOMLKey.format(typo.key)) on line \(typo.line) a typo?)"
        }
        return error(key, line: table.line, message)
    }

    func optional<Value>(_ key: String, _ type: ValueType<Value>) throws(ConfigError) -> Located<Value>? {
        guard let entry = entry(key) else {
            return nil
        }
        guard let value = type.extract(entry.value) else {
            throw error(key, line: entry.line, "expected \(type.name), found \(Self.describe(entry.value))")
        }
        return Located(value: value, line: entry.line)
    }

    func required<Value>(_ key: String, _ type: ValueType<Value>) throws(ConfigError) -> Located<Value> {
        guard let located = try optional(key, type) else {
            throw missing(key)
        }
        return located
    }

    // MARK: Sections

    /// The `[key]` table, or an empty one when absent so that its defaults apply.
    func section(_ key: String) throws(ConfigError) -> TableReader {
        guard let entry = entry(key) else {
            return TableReader(table: TOMLTable(), path: keyPath(key), file: file)
        }
        guard case .table(let table) = entry.value else {
            throw error(key, line: entry.line, "expected a table ([\(key)]), found \(Self.describe(entry.value))")
        }
        return TableReader(table: table, path: keyPath(key), file: file)
    }

    /// The `[key]` table, which must be present.
    func requiredSection(_ key: String) throws(ConfigError) -> TableReader {
        guard table.entry(key) != nil else {
            _ = entry(key)
            var message = "missing required table [\(key)]"
            if let typo = likelyTypo(of: key) {
                message += " (is \(TOMLKey.format(typo.key)) on line \(typo.line) a typo?)"
            }
            throw ConfigError(file: file, line: table.line, key: keyPath(key), message: message)
        }
        return try section(key)
    }

    /// The `[[key]]` tables in order, named `key[0]`, `key[1]`, ...; none when absent.
    func sectionArray(_ key: String) throws(ConfigError) -> [TableReader] {
        guard let entry = entry(key) else {
            return []
        }
        let mismatch = error(
            key, line: entry.line, "expected an array of tables ([[\(key)]]), found \(Self.describe(entry.value))"
        )
        guard case .array(let elements) = entry.value else {
            throw mismatch
        }
        var readers: [TableReader] = []
        for (index, element) in elements.enumerated() {
            guard case .table(let table) = element else {
                throw mismatch
            }
            readers.append(TableReader(table: table, path: "\(keyPath(key))[\(index)]", file: file))
        }
        return readers
    }

    /// Fails on the first key that no one asked for.
    func finish() throws(ConfigError) {
        for entry in table.entries where !known.contains(entry.key) {
            let what =
                switch entry.value {
                case .table: "unknown table"
                case .array(let elements) where !elements.isEmpty && elements.allSatisfy({ $0.tableValue != nil }):
                    "unknown array of tables"
                default: "unknown key"
                }
            let hint: String
            if let match = known.first(where: { Self.isLikelyTypo($0, of: entry.key) }) {
                hint = "did you mean \(TOMLKey.format(match))?"
            } else if known.isEmpty {
                hint = "this table takes no keys"
            } else {
                hint = "expected one of: " + known.map { TOMLKey.format($0) }.joined(separator: ", ")
            }
            throw error(entry.key, line: entry.line, "\(what); \(hint)")
        }
    }

    // MARK: Typed values

    /// An optional integer key that must lie in `range`.
    func integer(_ key: String, in range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard let located = try optional(key, .integer) else {
            return nil
        }
        guard let value = Int(exactly: located.value), range.contains(value) else {
            throw error(
                key, line: located.line,
                "must be an integer from \(range.lowerBound) to \(range.upperBound), found \(located.value)"
            )
        }
        return value
    }

    /// The longest duration a key may give: ten years (315,360,000 s). kefud counts deadlines in 64-bit milliseconds
    /// from the epoch and its timers in 64-bit nanoseconds; a value far beyond that (`first_response_s = 1e300`) was
    /// accepted and then trapped in the conversion at startup, a crash systemd restarts into, instead of exit 78.
    static let maximumSeconds: Double = 10 * 365 * 86_400

    /// An optional duration in seconds, integer or fractional, at most ``maximumSeconds``.
    func seconds(_ key: String, allowZero: Bool) throws(ConfigError) -> Double? {
        guard let located = try optional(key, .number) else {
            return nil
        }
        let value = located.value
        guard value.isFinite, allowZero ? value >= 0 : value > 0 else {
            let bound = allowZero ? "0 or more" : "more than 0"
            throw error(key, line: located.line, "must be a number of seconds, \(bound); found \(value)")
        }
        guard value <= Self.maximumSeconds else {
            throw error(
                key, line: located.line,
                "must be a number of seconds, at most \(Int(Self.maximumSeconds)) (ten years); found \(value)")
        }
        return value
    }

    /// A required id: 1 to 64 of `A-Z a-z 0-9 . _ -`, safe in protocol lines and logs.
    func identifier(_ key: String) throws(ConfigError) -> Located<String> {
        let located = try required(key, .string)
        let characters = located.value.utf8
        let valid =
            (1...64).contains(characters.count)
            && characters.allSatisfy { $0.isBareKeyCharacter || $0 == UInt8(ascii: ".") }
        guard valid else {
            throw error(
                key, line: located.line,
                "must be 1 to 64 characters of A-Z a-z 0-9 . _ -, found \(Self.quote(located.value))"
            )
        }
        return located
    }

    /// An optional display name: not empty, no control characters (names end up in line-based protocol output).
    /// A message the daemon sends a buyer: not blank; line breaks allowed (they travel escaped), no other control
    /// characters.
    func message(_ key: String) throws(ConfigError) -> String? {
        guard let located = try optional(key, .string) else {
            return nil
        }
        guard !located.value.allSatisfy(\.isWhitespace) else {
            throw error(key, line: located.line, "must not be empty; leave it out to send nothing")
        }
        let control = located.value.unicodeScalars.contains { $0 != "\n" && $0.properties.generalCategory == .control }
        guard !control else {
            throw error(key, line: located.line, "must not contain control characters other than line breaks")
        }
        return located.value
    }

    func displayName(_ key: String) throws(ConfigError) -> String? {
        guard let located = try optional(key, .string) else {
            return nil
        }
        guard !located.value.allSatisfy(\.isWhitespace) else {
            throw error(key, line: located.line, "must not be empty; leave it out to use the id")
        }
        guard !located.value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw error(key, line: located.line, "must not contain control characters such as line breaks")
        }
        return located.value
    }

    /// Store, language and skill names: 1 to 64 of `a-z 0-9 _ -` (lowercase, so `Tmall` and `tmall` cannot
    /// silently differ).
    static func isName(_ name: String) -> Bool {
        let bytes = name.utf8
        return (1...64).contains(bytes.count)
            && bytes.allSatisfy { $0.isASCIIDigit || (0x61...0x7A).contains($0) || $0 == 0x5F || $0 == 0x2D }
    }

    /// An optional non-empty array of distinct names, e.g. `stores = ["tmall", "jd"]`.
    func names(_ key: String, kind: String) throws(ConfigError) -> Located<[String]>? {
        guard let entry = entry(key) else { return nil }
        guard case .array(let values) = entry.value else {
            throw error(
                key, line: entry.line, "expected an array of \(kind) names, found \(Self.describe(entry.value))")
        }
        var names: [String] = []
        for value in values {
            guard let name = value.stringValue, Self.isName(name) else {
                throw error(key, line: entry.line, "each \(kind) name is a string of 1 to 64 of a-z 0-9 _ -")
            }
            guard !names.contains(name) else {
                throw error(key, line: entry.line, "\(kind) \"\(name)\" is listed twice")
            }
            names.append(name)
        }
        guard !names.isEmpty else {
            throw error(key, line: entry.line, "must list at least one \(kind); leave it out for all")
        }
        return Located(value: names, line: entry.line)
    }

    /// A required SHA-256 in hex, returned in lowercase.
    func tokenHash(_ key: String) throws(ConfigError) -> String {
        let located = try required(key, .string)
        let digits = located.value.utf8
        guard digits.count == 64, digits.allSatisfy(\.isASCIIHexDigit) else {
            let found =
                digits.count == 64
                ? "a character that is not a hex digit"
                : "\(located.value.count) character\(located.value.count == 1 ? "" : "s")"
            throw error(
                key, line: located.line,
                "must be 64 hex digits, the SHA-256 of the secret (printf %s SECRET | sha256sum); found \(found)"
            )
        }
        return located.value.lowercased()
    }

    // MARK: Helpers

    /// "a string", "an integer", ...: a value's type with its article.
    static func describe(_ value: TOMLValue) -> String {
        switch value {
        case .integer: "an integer"
        case .array: "an array"
        default: "a \(value.typeName)"
        }
    }

    private static func quote(_ text: String) -> String {
        "\"" + text.unicodeScalars.map { $0.escaped(asASCII: false) }.joined() + "\""
    }

    /// An unasked-for key of this table that looks like a misspelling of `key`.
    private func likelyTypo(of key: String) -> TOMLTable.Entry? {
        table.entries.first { !known.contains($0.key) && Self.isLikelyTypo($0.key, of: key) }
    }

    /// Whether `candidate` is within two edits of `key` (and not trivially short).
    private static func isLikelyTypo(_ candidate: String, of key: String) -> Bool {
        let a = Array(candidate.unicodeScalars)
        let b = Array(key.unicodeScalars)
        guard min(a.count, b.count) >= 3, abs(a.count - b.count) <= 2 else {
            return false
        }
        // Levenshtein distance, one row at a time.
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var row = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                row[j] = min(previous[j] + 1, row[j - 1] + 1, substitution)
            }
            previous = row
        }
        return previous[b.count] <= 2
    }
}
