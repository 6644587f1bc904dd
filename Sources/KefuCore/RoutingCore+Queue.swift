/// The waiting queue: serving order (vips counted earlier), the position and wait each buyer is told, and capacity
/// that appears taking the longest-waiting chat the agent can serve.
extension RoutingCore {
    /// Where the conversation waits: its own skill at the level required now, and fallback skills once widened.
    func lanes(_ open: OpenConversation) -> QueueLanes { Self.lanes(open, skillTable) }

    static func lanes(_ open: OpenConversation, _ rules: SkillTable) -> QueueLanes {
        let demand = open.demand
        return QueueLanes(
            own: QueueLane(skill: demand.skill, requiredLevel: requiredLevel(demand, rules), store: open.storeLane),
            fallback: fallbackSkills(demand, rules),
            plain: demand.language == nil && demand.reservedFor == nil && demand.passedOnBy == nil)
    }

    /// The instant a conversation counts as having arrived for queue order: vips are boosted.
    func effectiveArrival(_ record: ConversationRecord) -> Instant {
        Self.effectiveArrival(record, vipBoost: policy.rules.vipBoost)
    }

    static func effectiveArrival(_ record: ConversationRecord, vipBoost: Milliseconds) -> Instant {
        record.priority == .vip ? record.openedAt + Milliseconds(-vipBoost.value) : record.openedAt
    }

    mutating func enqueue(_ id: ConversationID, at now: Instant, notify: Bool) {
        let (rules, boost) = (skillTable, policy.rules.vipBoost)
        guard
            let (key, skill, lanes) = conversations.modify(
                id,
                { open in
                    // Only a record that changes is written: a new conversation's record is still shared with the
                    // step that opened it, and a write would copy it.
                    if open.record.state != .queued || open.record.agent != nil {
                        open.record.state = .queued
                        open.record.agent = nil
                    }
                    let arrival = Self.effectiveArrival(open.record, vipBoost: boost)
                    return (
                        QueueKey(effectiveArrival: arrival, conversation: id), open.skill,
                        Self.lanes(open, rules)
                    )
                })
        else { return }
        queue.insert(key, skill: skill, lanes: lanes)
        queueChanged.insert(skill)
        if notify, let position = queue.position(of: id) {
            report(id, position: position, at: now)
        }
    }

    /// Tells a waiting customer their position and an estimate of the wait.
    mutating func report(_ id: ConversationID, position: Int, at now: Instant) {
        guard
            let (skill, customer) = conversations.modify(
                id,
                { open in
                    open.reportedPosition = position
                    open.reportedAt = now
                    return (open.skill, open.record.customer)
                })
        else { return }
        fileChangedAgents()
        let (eta, offline) = estimate(position: position, skill: skill)
        effects.append(
            .deliver(.customer(customer), .queued(id, position: position, etaSeconds: eta, offline: offline)))
    }

    /// Seconds until a slot is likely to free for this position: position × recent handling time ÷ slots of the
    /// agents online who can serve the skill. `offline` when no such agent is online (the buyer leaves a message).
    func estimate(position: Int, skill: Int) -> (eta: Int?, offline: Bool) {
        let slots = roster.slotsOnline(of: skill)
        guard slots > 0 else { return (nil, true) }
        let handling = (skill < handlingTime.count ? handlingTime[skill] : nil) ?? Self.assumedHandlingMilliseconds
        let seconds = (Double(position) * handling / Double(slots) / 1000).rounded(.up)
        return (Int(seconds), false)
    }

    /// Before any chat of a skill has closed, estimates assume five minutes a chat.
    static let assumedHandlingMilliseconds = 300_000.0

    /// Arms the once-a-second queue report when positions may have changed.
    mutating func scheduleQueueReport(at now: Instant) {
        guard !queueChanged.isEmpty, !queueReportArmed else { return }
        queueReportArmed = true
        deadlines.arm(.queueReport, at: now + Milliseconds(1000))
    }

    /// Tells every waiting customer whose position changed their new one; a customer told less than a second
    /// ago waits for the next report.
    mutating func reportQueue(at now: Instant) {
        queueReportArmed = false
        let skills = queueChanged.members
        queueChanged.removeAll()
        for skill in skills.sorted(by: { skillNumbers[$0] < skillNumbers[$1] }) {
            for (index, key) in queue.ordered(skill: skill).enumerated() {
                guard let open = conversations[key.conversation], open.reportedPosition != index + 1 else { continue }
                if let last = open.reportedAt, now - last < Milliseconds(1000) {
                    queueChanged.insert(skill)
                    continue
                }
                report(key.conversation, position: index + 1, at: now)
            }
        }
        scheduleQueueReport(at: now)
    }

    /// Capacity appeared on an agent: give it the best waiting conversations it can serve, at once.
    mutating func offerCapacity(to id: AgentID, at now: Instant) {
        guard let handle = agents.handle(of: id) else { return }
        offerCapacity(toHandle: handle, id, at: now)
    }

    mutating func offerCapacity(toHandle handle: Int, _ id: AgentID, at now: Instant) {
        guard let (rule, candidates) = agents.inspect(handle: handle, { ($0.capacityRule, $0.capacityCandidates) })
        else { return }
        while agents.inspect(handle: handle, { $0.canTakeMore }) == true,
            let next = work(forAgent: handle, at: now)
        {
            // The agent's own rule and candidate list, made once: this runs on every freed slot.
            assign(
                next, to: id, at: now, reason: .routed, handle: handle,
                decision: Decision(conversation: next, at: now, agent: id, rule: rule, candidates: candidates))
        }
    }

    /// The longest-waiting conversation this agent can serve: the heads of its lanes, skipping chats it cannot
    /// take (store, language, reservation). The one returned must be assigned (it is taken off its lane's heap,
    /// `WaitingQueue.takeBest`). A function of its own so the read-only view of the conversations it
    /// captures is gone before anything is mutated (no copy of the dictionary).
    mutating func work(forAgent handle: Int, at now: Instant) -> ConversationID? {
        // The agent and the conversations are read where they lie (no copies): the queue is the only thing changed.
        let agents = self.agents
        guard let (lanes, stores) = agents.inspect(handle: handle, { ($0.lanes, $0.storeLanes) }) else { return nil }
        return Self.work(
            for: handle, lanes: lanes, stores: stores, agents, in: &queue, conversations, skillTable, at: now)
    }

    static func work(
        for handle: Int, lanes: [AgentRoster.Lane], stores: [Int]?, _ agents: AgentTable,
        in queue: inout WaitingQueue, _ open: ConversationTable, _ rules: SkillTable, at now: Instant
    ) -> ConversationID? {
        // The queue lanes the agent may serve: each of its skills at the levels up to its own that have waiting
        // chats, in the stores it serves and for chats that name none (a handful or a few dozen; on the stack).
        let storeCount = stores.map { $0.count + 1 } ?? queue.storeLanes
        let most = lanes.reduce(0) { $0 + min(max($1.level, 0), 63) } * storeCount
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: most) { buffer in
            var count = 0
            // Lanes where nobody waits are left out of the search.
            func add(_ lane: QueueLane) {
                guard let number = queue.laneNumber(of: lane), !queue.isEmpty(lane: number) else { return }
                buffer.initializeElement(at: count, to: number)
                count += 1
            }
            for agentLane in lanes where agentLane.level >= 1 {
                let mask = queue.laneMask(of: agentLane.skill)
                for required in 1...min(agentLane.level, 63) where mask & (1 << UInt64(required)) != 0 {
                    if let stores {
                        add(QueueLane(skill: agentLane.skill, requiredLevel: required, store: StoreLanes.anyStore))
                        for store in stores {
                            add(QueueLane(skill: agentLane.skill, requiredLevel: required, store: store))
                        }
                    } else {
                        for store in 0..<storeCount {
                            add(QueueLane(skill: agentLane.skill, requiredLevel: required, store: store))
                        }
                    }
                }
            }
            let found = queue.takeBest(among: UnsafeBufferPointer(rebasing: buffer[..<count])) { conversation, plain in
                // The lane stands for skill, level and store: a plain chat asks nothing else of the agent.
                if plain { return agents.inspect(handle: handle, { $0.canTakeMore }) == true }
                // Only what the verdict needs is read from the conversation, in place.
                guard let demand = open.inspect(conversation, { $0.demand }) else { return false }
                return agents.inspect(handle: handle, { $0.verdict(for: demand, at: now, rules: rules).verdict })
                    == .chosen
            }
            return found?.conversation
        }
    }
}
