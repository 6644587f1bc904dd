/// The routing-and-SLA state machine. Commands and the current instant go in; the reply and the effects
/// (events to deliver, records to persist, breaches to log) come out. It owns no I/O and reads no clock, so
/// every rule is testable without sleeping and a recorded day of commands replays to the same decisions.
public struct RoutingCore: Sendable {
    /// An agent's live state. Presence is what the agent chose; sessions, load, wrap-up and breaches are what the
    /// daemon derives, kept apart so that neither overwrites the other.
    struct AgentState {
        private(set) var profile: AgentProfile
        /// The roster lanes the agent belongs in (one per skill, at its level, by skill number), kept with the
        /// profile.
        private(set) var lanes: [AgentRoster.Lane]
        /// The queue lanes of the stores it serves (nil: every store), kept with the profile.
        private(set) var storeLanes: [Int]?
        /// Its index in the core's `AgentTable` (set by the table).
        var handle = -1
        /// How a decision made when the agent gained room reads (`EXPLAIN`), made once per agent.
        private(set) var capacityRule: DecisionRule
        private(set) var capacityCandidates: [Candidate]
        var presence: Presence = .offline
        var sessions = 0
        var held: Set<ConversationID> = []
        /// End instants of wrap-ups in progress: each keeps one slot busy.
        var wrapUps: [Instant] = []
        var lastAssignedAt: Instant?
        var disconnectedAt: Instant?
        var recentBreaches: [Instant] = []
        /// The working state last written to the store (`PresenceRecord`), and since when.
        var recordedPresence = Presence.offline
        var presenceSince: Instant?

        /// At work as reports count it: online or away while connected; offline otherwise (not logged in, offline,
        /// or dropped, inside the reconnect grace or not).
        var workingPresence: Presence { sessions > 0 ? presence : .offline }

        /// Where the roster files the agent now.
        var filing: AgentRoster.Filing {
            AgentRoster.Filing(
                standing: AgentRoster.standing(of: self), key: rosterKey, lanes: lanes, stores: storeLanes)
        }

        /// The agent's place in its roster lanes (and what routing compares agents by).
        var rosterKey: AgentRoster.Key {
            AgentRoster.Key(
                busy: busySlots, max: profile.maxChats, lastAssignedAt: lastAssignedAt, agent: profile.id,
                handle: handle)
        }

        /// Online, connected and with a free slot: may take a new conversation now.
        var canTakeMore: Bool { isAvailable && hasFreeSlot }

        /// Online and connected: may take new conversations (if it has a free slot).
        var isAvailable: Bool { presence == .online && sessions > 0 }
        var busySlots: Int { held.count + wrapUps.count }
        var hasFreeSlot: Bool { busySlots < profile.maxChats }

        init(profile: AgentProfile, skills: inout SkillNumbers, stores: inout StoreLanes) {
            self.profile = profile
            self.lanes = Self.lanes(of: profile, skills: &skills)
            self.storeLanes = stores.lanes(of: profile.stores)
            capacityRule = .capacityAppeared(profile.id)
            capacityCandidates = [Candidate(agent: profile.id, verdict: .chosen)]
        }

        mutating func setProfile(_ profile: AgentProfile, skills: inout SkillNumbers, stores: inout StoreLanes) {
            self.profile = profile
            lanes = Self.lanes(of: profile, skills: &skills)
            storeLanes = stores.lanes(of: profile.stores)
        }

        static func lanes(of profile: AgentProfile, skills: inout SkillNumbers) -> [AgentRoster.Lane] {
            profile.skills.filter { $0.value >= 1 }.sorted { $0.key < $1.key }
                .map { AgentRoster.Lane(skill: skills.intern($0.key), level: $0.value) }
        }

        /// The agent's level in a skill, by number (0: it does not have it). A walk of its few lanes.
        func level(inSkill skill: Int) -> Int {
            for lane in lanes where lane.skill == skill { return lane.level }
            return 0
        }
    }

    /// An open conversation: its persisted record and what the core derives while it is open.
    struct OpenConversation {
        var record: ConversationRecord
        /// The number of `record.skill`.
        var skill: Int
        /// The queue lane of `record.store` (`StoreLanes`).
        var storeLane: Int
        /// 0 at first; 1 once the required level dropped to 1; 2 once fallback skills may serve.
        var widenStep = 0
        /// A returning buyer waiting for their former agent (until `reservedUntil`).
        var reservedFor: AgentID?
        var reservedUntil: Instant?
        var assignedAt: Instant?
        /// The agent who transferred it away: it does not come back to them until another agent has answered it.
        var passedOnBy: AgentID?
        /// How a transferred or handed-over chat that had to wait will be announced when someone takes it
        /// (`via=transfer|handover`, with its notes).
        var pendingVia: AssignmentVia?
        /// The last routing decision, for `EXPLAIN`.
        var decision: Decision?
        /// Held by an agent whose limit a reload lowered below its load: it keeps the chat (a lowered limit never
        /// takes one away), so it may be over its limit until enough of them close.
        var keptOverLimit = false
        var notes: [NoteRecord] = []
        var reportedPosition: Int?
        var reportedAt: Instant?
        /// Messages sent with `SEND ref=`, by sender and ref: a resend answers with the stored seq.
        var sentRefs: [SentRef: Int] = [:]
        /// The holder's handle in the agent table as the assignment found it (0: unknown); checked against the
        /// holder's id before use, so a stale one only costs the lookup it would have saved.
        var holderHandle = 0

        /// What the conversation asks of an agent now.
        var demand: Demand {
            Demand(
                skill: skill, widenStep: widenStep, store: record.store, storeLane: storeLane,
                language: record.language, reservedFor: reservedFor, reservedUntil: reservedUntil,
                passedOnBy: passedOnBy
            )
        }
    }

    /// What a conversation asks of an agent: the facts a verdict reads, small enough to take out of the
    /// conversation for each agent or queue entry a decision looks at.
    struct Demand {
        var skill: Int
        var widenStep: Int
        var store: String?
        /// The queue and roster lane of `store` (`StoreLanes`).
        var storeLane: Int
        var language: String?
        var reservedFor: AgentID?
        var reservedUntil: Instant?
        var passedOnBy: AgentID?
    }

    public internal(set) var policy: RoutingPolicy
    var agents = AgentTable()
    /// Skill names to the dense numbers the roster and the queue use.
    var skillNumbers = SkillNumbers()
    /// Store names to the numbers of their queue lanes.
    var storeLanes = StoreLanes()
    /// The policy's `[[skill]]` rules by skill number.
    var skillTable = SkillTable()
    /// Agents by skill, sorted by id, so candidate scans touch only agents who could serve.
    var agentsBySkill: [Skill: [AgentID]] = [:]
    /// Who can take a chat now, by skill and level, and everyone else counted by standing: what decisions read.
    /// Filed lazily: agents changed since the roster was last read wait in `unfiled` (see `changeAgent`).
    var roster = AgentRoster()
    /// Handles of agents changed since their last filing, in order, and a flag per handle.
    var unfiled = NumberSet()
    var knownSkills: Set<Skill> = []
    /// `knownSkills` by skill number.
    var knownSkillNumbers: [Bool] = []
    /// Every open conversation (queued or assigned). Closed ones live only in the store.
    var conversations = ConversationTable()
    var queue = WaitingQueue()
    var deadlines = DeadlineQueue()
    var nextConversationID: ConversationID
    var returningBuyers: [CustomerID: ReturningBuyer] = [:]
    /// Satisfaction surveys of closed conversations that may still be answered (or were, so a second `RATE` is told
    /// so), until they expire.
    var surveys: [ConversationID: RatingRecord] = [:]
    /// Recent handling time per skill (moving average, ms), for queue estimates.
    var handlingTime: [Double?] = []
    /// Each skill's last `OTHERS` counts, shared by the next decision with the same counts (`otherAgentsShared`).
    var othersBySkill: [[OtherAgents]?] = []
    /// Skills (by number) whose waiting customers may have a new position to hear about.
    var queueChanged = NumberSet()
    var queueReportArmed = false
    /// Effects of the command being handled, in order.
    var effects: [Effect] = []
    /// The instant of the step being handled (what records made while filing agents are stamped with).
    var stepInstant = Instant(unixMilliseconds: 0)

    public init(policy: RoutingPolicy, nextConversationID: ConversationID = ConversationID(1)) {
        self.policy = policy
        self.nextConversationID = nextConversationID
        rebuildSkillIndex()
        for profile in policy.agents {
            agents.add(AgentState(profile: profile, skills: &skillNumbers, stores: &storeLanes))
            roster.update(agents[profile.id]!)
        }
    }

    // MARK: - Inspection

    /// The earliest instant at which a deadline falls due: the server arms one timer for it.
    public var nextDeadline: Instant? { deadlines.next }

    /// A short live summary (for `STATUS=`).
    public var status: RoutingStatus {
        RoutingStatus(
            agentsOnline: agents.values.count { $0.isAvailable },
            queued: queue.count,
            active: conversations.count - queue.count
        )
    }

    /// An open conversation's current state.
    public func conversation(_ id: ConversationID) -> ConversationRecord? { conversations[id]?.record }

    /// Conversations an agent holds, by id.
    public func held(by agent: AgentID) -> [ConversationID] { agents[agent]?.held.sorted() ?? [] }

    /// Waiting conversations in serving order.
    public var waiting: [ConversationID] { queue.ordered.map(\.conversation) }

    /// The presence an agent has set (or the daemon set for it), nil for an unknown agent.
    public func presence(of agent: AgentID) -> Presence? { agents[agent]?.presence }

    /// Open conversations that satisfy a condition, by id (a reconnecting customer or gateway gets these back).
    public func openConversations(where include: (ConversationRecord) -> Bool) -> [ConversationRecord] {
        conversations.values.map(\.record).filter(include).sorted { $0.id < $1.id }
    }

    /// The last routing decision for an open conversation.
    public func decision(for conversation: ConversationID) -> Decision? { conversations[conversation]?.decision }

    // MARK: - Restore

    /// Rebuilds the state the store recovered after a restart. Clocks continue from the stored absolute
    /// deadlines; one already past fires at the next command. Returns the records of any repair (for example a
    /// conversation whose agent was removed from the configuration goes back to the queue).
    public mutating func restore(
        _ records: [ConversationRecord],
        lastAssignedAt: [AgentID: Instant],
        notes: [ConversationID: [NoteRecord]] = [:],
        returningBuyers: [CustomerID: (agent: AgentID, closedAt: Instant)] = [:],
        sentRefs: [ConversationID: [SentRef: Int]] = [:],
        at now: Instant
    ) -> Step {
        effects = []
        stepInstant = now
        for (agent, instant) in lastAssignedAt where agents[agent] != nil {
            changeAgent(agent) { $0.lastAssignedAt = instant }
        }
        for (customer, last) in returningBuyers {
            self.returningBuyers[customer] = ReturningBuyer(
                agent: last.agent, handle: agents.handle(of: last.agent) ?? 0, closedAt: last.closedAt)
        }
        for var record in records where record.state != .closed {
            if record.id >= nextConversationID { nextConversationID = ConversationID(record.id.rawValue + 1) }
            var open = OpenConversation(
                record: record, skill: skillNumbers.intern(record.skill), storeLane: storeLanes.lane(of: record.store))
            open.notes = notes[record.id] ?? []
            open.sentRefs = sentRefs[record.id] ?? [:]
            // Widening steps that fell due while the daemon was down apply at once; later ones are armed.
            open.widenStep = widenSteps(of: record, skill: open.skill).filter { $0.at <= now }.map(\.step).max() ?? 0
            if record.state == .assigned, let agent = record.agent, let handle = agents.handle(of: agent) {
                changeAgent(handle: handle) { $0.held.insert(record.id) }
                open.holderHandle = handle
                open.assignedAt = now
                conversations.add(open)
            } else {
                let repaired = record.state != .queued
                record.state = .queued
                record.agent = nil
                open.record = record
                conversations.add(open)
                enqueue(record.id, at: now, notify: false)
                if repaired { persist(record.id) }
            }
            // A buyer silent since before the restart is still on the clock (a warning already due is not sent late).
            armBuyerIdle(record, after: now)
            if record.roundStartedAt != nil, record.roundBreachedAt == nil {
                // A warning whose moment passed while the daemon was down is not sent late: the breach is near.
                armRound(of: record, warnAfter: now)
            }
            // Rungs of the ladder still ahead of a breached round: one already due fires at once, in order, once.
            armEscalation(of: record)
            if let due = record.resolutionDueAt, record.resolutionBreachedAt == nil {
                deadlines.arm(.resolutionDue(record.id), at: due)
            }
            armWidening(record, skill: skillNumbers.intern(record.skill), after: now)
        }
        fileChangedAgents()
        return Step(reply: .ok([]), effects: take())
    }

    // MARK: - Commands

    /// Applies one command at `now`. Deadlines due by `now` fire first, so replaying the same commands at the
    /// same instants always yields the same decisions.
    public mutating func handle(_ command: Command, at now: Instant) -> Step {
        // Room for what a close or an open usually produces, allocated once instead of grown 1, 2, 4, 8.
        effects = []
        effects.reserveCapacity(8)
        stepInstant = now
        fireDeadlines(upTo: now)
        let reply = apply(command, at: now)
        scheduleQueueReport(at: now)
        fileChangedAgents()
        return Step(reply: reply, effects: take())
    }

    mutating func take() -> [Effect] {
        defer { effects = [] }
        return effects
    }

    mutating func apply(_ command: Command, at now: Instant) -> Reply {
        switch command {
        case .connect(let principal):
            return connect(principal, at: now)
        case .disconnect(let principal):
            if case .agent(let id) = principal { disconnect(id, at: now) }
            return .ok([])
        case .setPresence(let principal, let presence):
            guard case .agent(let id) = principal else { return .refused(.forbidden, "only agents set presence") }
            return setPresence(id, presence, at: now)
        case .open(let principal, let skill, let priority, let text, let store, let language, let gateway):
            guard case .customer(let customer) = principal else {
                return .refused(.forbidden, "only customers open conversations")
            }
            let request = OpenRequest(
                customer: customer, skill: skill, priority: priority, text: text, store: store, language: language,
                gateway: gateway
            )
            return open(request, at: now)
        case .send(let principal, let id, let text, let ref):
            return send(principal, id, text: text, ref: ref, at: now)
        case .autoReply(let principal, let id, let text, let ref):
            return autoReply(principal, id, text: text, ref: ref, at: now)
        case .hold(let principal, let id, let reason):
            return hold(principal, id, reason: reason, at: now)
        case .close(let principal, let id):
            return close(principal, id, at: now)
        case .history(let principal, let id):
            return history(principal, id)
        case .transfer(let principal, let id, let target, let reason):
            return transfer(principal, id, to: target, reason: reason, at: now)
        case .note(let principal, let id, let text):
            return note(principal, id, text: text, at: now)
        case .notes(let principal, let id):
            return notes(principal, id)
        case .handover(let principal, let note):
            return handover(principal, note: note, at: now)
        case .assign(let principal, let id, let agent):
            return forceAssign(principal, id, to: agent, at: now)
        case .explain(let principal, let id):
            return explain(principal, id)
        case .queue(let principal, let page):
            return queueListing(principal, page: page, at: now)
        case .agents(let principal, let after, let limit):
            return agentListing(principal, after: after, limit: limit)
        case .tick:
            return .ok([])
        case .due(let principal, let id):
            return due(principal, id, at: now)
        case .rate(let principal, let id, let rating, let comment):
            return rate(principal, id, rating: rating, comment: comment, at: now)
        case .reconfigure(let policy):
            reconfigure(policy, at: now)
            return .ok([])
        }
    }

    // MARK: - Deadlines

    /// Fires every deadline due by `now`, each by the rule it belongs to.
    mutating func fireDeadlines(upTo now: Instant) {
        while let deadline = deadlines.popDue(at: now) {
            switch deadline.kind {
            case .roundDue(let id, let round):
                roundDue(id, round: round, due: deadline.at, at: now)
            case .buyerIdleWarning(let id, let since):
                buyerIdleWarning(id, since: since, armedFor: deadline.at, at: now)
            case .buyerIdleClose(let id, let since):
                buyerIdleClose(id, since: since, armedFor: deadline.at, at: now)
            case .resolutionDue(let id):
                resolutionDue(id, armedFor: deadline.at, at: now)
            case .escalation(let id, let round, let level):
                escalate(id, round: round, level: level, armedFor: deadline.at, at: now)
            case .roundWarning(let id, let round):
                roundWarning(id, round: round, armedFor: deadline.at, at: now)
            case .widen(let id, let step):
                widen(id, to: step, at: now)
            case .stickyExpiry(let id):
                stickyWaitOver(id, at: now)
            case .wrapUpOver(let agent):
                wrapUpOver(agent, at: now)
            case .reconnectGrace(let agent):
                reconnectGraceOver(agent, at: now)
            case .queueReport:
                reportQueue(at: now)
            case .surveyExpiry(let id):
                surveyExpired(id, at: now)
            }
        }
    }

    // MARK: - Records and the roster

    mutating func persist(_ id: ConversationID) {
        if let record = conversations[id]?.record { effects.append(.persist(.conversation(record))) }
    }

    mutating func rebuildSkillIndex() {
        agentsBySkill = [:]
        for profile in policy.agents.sorted(by: { $0.id < $1.id }) {
            for (skill, level) in profile.skills where level >= 1 {
                agentsBySkill[skill, default: []].append(profile.id)
            }
        }
        knownSkills = Set(policy.knownSkills)
        for skill in policy.knownSkills { _ = skillNumbers.intern(skill) }
        skillTable = SkillTable(policy.skillRules, numbers: &skillNumbers)
        knownSkillNumbers = skillNumbers.names.map { knownSkills.contains($0) }
    }

    /// Every change to an agent's state goes through here, so the roster decisions read never lags behind it.
    mutating func changeAgent(_ id: AgentID, _ change: (inout AgentState) -> Void) {
        guard let handle = agents.handle(of: id) else { return }
        changeAgent(handle: handle, change)
    }

    /// The agent is filed again in the roster before the roster is next read (`fileChangedAgents`), not at once: a
    /// close frees a slot that the next waiting chat takes in the same step, and the agent, full again, is filed once
    /// instead of twice.
    mutating func changeAgent(handle: Int, _ change: (inout AgentState) -> Void) {
        guard agents.contains(handle: handle) else { return }
        change(&agents[handle: handle]!)
        unfiled.insert(handle)
    }

    /// Files the agents changed since the roster was last read. Called before every read of the roster (a decision,
    /// a queue estimate) and at the end of every step, so that the roster never lags behind what it is asked.
    mutating func fileChangedAgents() {
        guard !unfiled.isEmpty else { return }
        for handle in unfiled.members {
            // An agent removed meanwhile is no longer in the table (the reload took it off the roster).
            guard let (filing, moved) = agents.inspect(handle: handle, { ($0.filing, $0.workingPresence != $0.recordedPresence) })
            else { continue }
            roster.update(filing)
            if moved { recordPresence(handle: handle) }
        }
        unfiled.removeAll()
    }
}

extension RoutingCore {
    /// An agent's working state changed (a login, a drop, a presence set by it or the daemon): the store keeps when,
    /// so a day's report can say when the agent came and left and how long it was online and away.
    mutating func recordPresence(handle: Int) {
        guard var agent = agents[handle: handle] else { return }
        agent.recordedPresence = agent.workingPresence
        let record = PresenceRecord(agent: agent.profile.id, at: stepInstant, presence: agent.recordedPresence)
        agents[handle: handle]!.recordedPresence = agent.recordedPresence
        agents[handle: handle]!.presenceSince = stepInstant
        effects.append(.persist(.presence(record)))
    }
}

/// Live counts for `STATUS=` and ops.
public struct RoutingStatus: Sendable, Equatable {
    public var agentsOnline: Int
    public var queued: Int
    public var active: Int
}
