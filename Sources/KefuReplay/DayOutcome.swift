import KefuCore

/// A run's day, read from its steps: the records the core persisted (conversations, assignments, rounds, presence)
/// and its escalation steps. What each figure counts (`DayFigures.Figures`):
///
/// - **3-minute response rate**: rounds (a buyer waiting for a human answer: the opening, and each buyer message
///   after an answer; more buyer messages before the answer do not start another) answered by a human within 180 s
///   of business time (the round's `businessWaited`, as the day reports count), ÷ rounds decided: answered (in time
///   or not), or unanswered for 180 s or more (closed so, or still waiting at the end). A round closed unanswered
///   in under 180 s (the buyer left) and one still under 180 s at the end are not counted. Auto-replies (greeting,
///   queue message, canned replies) end no round, so they never count as answers. 180 s whatever `[sla]` says: it
///   is the platforms' score, not the shop's deadline.
/// - **first response** p50/p90 (nearest rank): round 1's business wait, of conversations answered.
/// - **breaches**: rounds whose deadline passed; **escalations**: steps of the ladder taken.
/// - **queue wait** p50/p90/longest/mean: open to the first assignment, wall time; never assigned: to its close, or
///   to the end of the run. **waited in queue**: conversations with a wait above zero.
/// - **chats**: assignments to an agent (a transfer or a move by the ladder counts for the new holder);
///   **agents online**: agents online at some time in the slice; chats per agent is their ratio.
/// - **occupancy**: slot-time busy while online (each held chat fills a slot) ÷ (online time × `max_chats`). Online
///   is the presence records' `online` (away and offline are not online, even holding chats). `max_chats` from the
///   profiles given, else 1.
/// - **waiting**: conversations in the queue (opened or sent back, not yet held), time-weighted mean over the slice
///   and the peak.
///
/// Rounds, first responses and breaches belong to the hour and skill their round started in; queue waits to those of
/// the opening; chats, escalations and the time-weighted figures to when they happened. Only what started in
/// `[from, to)` is counted.
public struct DayOutcome: Sendable {
    public let calendar: BusinessCalendar
    public let from: Instant
    public let to: Instant
    /// Each agent's reception limit, for occupancy (from the profiles given and any `.reconfigure` observed).
    public private(set) var maxChats: [AgentID: Int] = [:]
    private var agentSkills: [AgentID: Set<Skill>] = [:]

    private struct RoundKey: Hashable {
        var conversation: ConversationID
        var round: Int
    }

    private struct Track {
        var skill: Skill
        var openedAt: Instant
        var firstAssignedAt: Instant?
        var closedAt: Instant?
        /// Who holds it now (nil: queued), and since when.
        var holder: AgentID?
        var since: Instant
    }

    private struct Span {
        var start: Instant
        var end: Instant
        var skill: Skill
    }

    private var tracks: [ConversationID: Track] = [:]
    private var rounds: [RoundKey: RoundRecord] = [:]
    private var queueSpans: [Span] = []
    private var holdSpans: [AgentID: [Span]] = [:]
    private var onlineSpans: [AgentID: [(start: Instant, end: Instant)]] = [:]
    private var onlineSince: [AgentID: Instant] = [:]
    private var assignments: [(agent: AgentID, skill: Skill, at: Instant)] = []
    private var escalations: [(skill: Skill, at: Instant)] = []

    public init(calendar: BusinessCalendar, from: Instant, to: Instant) {
        self.init(calendar: calendar, from: from, to: to, agents: [])
    }

    /// With the agents' profiles: their `max_chats` for occupancy, their skills for occupancy per skill.
    public init(calendar: BusinessCalendar, from: Instant, to: Instant, agents: [AgentProfile]) {
        self.calendar = calendar
        self.from = from
        self.to = to
        learn(agents)
    }

    private mutating func learn(_ agents: [AgentProfile]) {
        for agent in agents {
            maxChats[agent.id] = agent.maxChats
            agentSkills[agent.id] = Set(agent.skills.filter { $0.value >= 1 }.keys)
        }
    }

    /// Every step of the run, in order.
    public mutating func observe(_ step: FloorStep) {
        if case .reconfigure(let policy) = step.command { learn(policy.agents) }
        let now = step.at
        var closed: [ConversationID] = []
        for effect in step.step.effects {
            switch effect {
            case .persist(.conversation(let record)):
                if tracks[record.id] == nil {
                    tracks[record.id] = Track(skill: record.skill, openedAt: record.openedAt, holder: nil, since: now)
                } else if tracks[record.id]?.skill != record.skill {
                    tracks[record.id]?.skill = record.skill  // a transfer to another skill
                }
                if record.state == .closed { closed.append(record.id) }
            case .persist(.round(let round)):
                rounds[RoundKey(conversation: round.conversation, round: round.round)] = round
            case .persist(.presence(let presence)):
                if presence.presence == .online {
                    if onlineSince[presence.agent] == nil { onlineSince[presence.agent] = now }
                } else if let since = onlineSince.removeValue(forKey: presence.agent) {
                    onlineSpans[presence.agent, default: []].append((since, now))
                }
            case .escalation(let escalation):
                escalations.append((escalation.breach.skill, now))
            default:
                break
            }
        }
        // Hands change after every conversation of the step is known (a record may come after its assignment).
        for effect in step.step.effects {
            guard case .persist(.assignment(let assignment)) = effect, var track = tracks[assignment.conversation],
                track.closedAt == nil
            else { continue }
            end(&track, at: now)
            track.holder = assignment.agent
            if let agent = assignment.agent {
                if track.firstAssignedAt == nil { track.firstAssignedAt = now }
                assignments.append((agent, track.skill, now))
            }
            tracks[assignment.conversation] = track
        }
        for id in closed {
            guard var track = tracks[id], track.closedAt == nil else { continue }
            end(&track, at: now)
            track.closedAt = now
            tracks[id] = track
        }
    }

    /// Ends the conversation's current stretch (in the queue or with its holder) at `now`.
    private mutating func end(_ track: inout Track, at now: Instant) {
        let span = Span(start: track.since, end: now, skill: track.skill)
        if let holder = track.holder {
            if now > track.since { holdSpans[holder, default: []].append(span) }
        } else if now > track.since {
            queueSpans.append(span)
        }
        track.since = now
    }

    // MARK: - Figures

    /// The figures of the window up to `end` (the end of the run): whole, per local hour, per skill.
    public func figures(at end: Instant) -> DayFigures { figures(at: end, within: from..<to) }

    /// The figures of a part of the window (an hour a staffing plan tries), up to `end`.
    public func figures(at end: Instant, within window: Range<Instant>) -> DayFigures {
        let from = window.lowerBound
        let stop = max(from, min(window.upperBound, end))
        let slots = hourSlots(from: from, until: stop)
        var whole = Sheet()
        var hours = [Sheet](repeating: Sheet(), count: slots.count - 1)
        var skills: [Skill: Sheet] = [:]
        func slot(of instant: Instant) -> Int? {
            guard instant >= from, instant < stop else { return nil }
            var low = 0
            var high = slots.count - 2
            while low < high {
                let middle = (low + high + 1) / 2
                if slots[middle] <= instant { low = middle } else { high = middle - 1 }
            }
            return low
        }
        func add(at instant: Instant, skill: Skill, _ change: (inout Sheet) -> Void) {
            guard let hour = slot(of: instant) else { return }
            change(&whole)
            change(&hours[hour])
            change(&skills[skill, default: Sheet()])
        }
        /// Splits a stretch of time over the hours it crosses.
        func spread(_ start: Instant, _ finish: Instant, skill: Skill, _ change: (inout Sheet, Milliseconds) -> Void) {
            let start = max(start, from)
            let finish = min(finish, stop)
            guard finish > start, var hour = slot(of: start) else { return }
            change(&whole, finish - start)
            change(&skills[skill, default: Sheet()], finish - start)
            var cursor = start
            while cursor < finish, hour < hours.count {
                let next = min(finish, slots[hour + 1])
                change(&hours[hour], next - cursor)
                cursor = next
                hour += 1
            }
        }

        // Rounds.
        for round in rounds.values {
            let waited = round.businessWaited ?? round.waited
            // A round still running at the end has waited (in business time) until the end.
            let stillWaiting = { calendar.elapsed(from: round.startedAt, to: max(round.startedAt, end)) }
            add(at: round.startedAt, skill: round.skill) { sheet in
                if round.breachedAt != nil { sheet.breaches += 1 }
                if round.answeredAt != nil, let waited {
                    sheet.rounds += 1
                    if waited.value <= 180_000 { sheet.answeredInTime += 1 }
                    if round.round == 1 { sheet.firstResponses.append(waited) }
                } else if (waited ?? stillWaiting()).value >= 180_000 {
                    sheet.rounds += 1
                }
            }
        }
        // Conversations and their queue waits.
        for track in tracks.values {
            let wait = (track.firstAssignedAt ?? track.closedAt ?? max(track.openedAt, end)) - track.openedAt
            add(at: track.openedAt, skill: track.skill) { sheet in
                sheet.conversations += 1
                sheet.queueWaits.append(wait)
            }
        }
        for escalation in escalations { add(at: escalation.at, skill: escalation.skill) { $0.escalations += 1 } }
        for assignment in assignments {
            add(at: assignment.at, skill: assignment.skill) { sheet in
                sheet.chats += 1
                sheet.chatsByAgent[assignment.agent, default: 0] += 1
            }
        }
        // Online time and capacity (per skill: the agents who serve it, or else those who held its chats).
        var online = onlineSpans
        for (agent, since) in onlineSince { online[agent, default: []].append((since, max(since, end))) }
        var skillsOf = agentSkills
        for (agent, spans) in holdSpans where skillsOf[agent] == nil { skillsOf[agent] = Set(spans.map(\.skill)) }
        for (agent, spans) in online {
            let limit = Int64(maxChats[agent] ?? 1)
            for span in spans {
                let account: (inout Sheet, Milliseconds) -> Void = { sheet, length in
                    sheet.online.insert(agent)
                    sheet.onlineTime += length.value
                    sheet.capacityTime += length.value * limit
                }
                let start = max(span.start, from)
                let finish = min(span.end, stop)
                guard finish > start, var hour = slot(of: start) else { continue }
                account(&whole, finish - start)
                for skill in skillsOf[agent] ?? [] { account(&skills[skill, default: Sheet()], finish - start) }
                var cursor = start
                while cursor < finish, hour < hours.count {
                    let next = min(finish, slots[hour + 1])
                    account(&hours[hour], next - cursor)
                    cursor = next
                    hour += 1
                }
            }
        }
        // Busy slot-time: each held stretch, while its agent was online.
        var holds = holdSpans
        for track in tracks.values where track.closedAt == nil {
            if let holder = track.holder, end > track.since {
                holds[holder, default: []].append(Span(start: track.since, end: end, skill: track.skill))
            }
        }
        for (agent, spans) in holds {
            let windows = (online[agent] ?? []).sorted { $0.start < $1.start }
            for span in spans {
                for window in windows where window.end > span.start && window.start < span.end {
                    spread(max(span.start, window.start), min(span.end, window.end), skill: span.skill) {
                        sheet, length in
                        sheet.busySlotTime += length.value
                    }
                }
            }
        }
        // Waiting conversations: the queue's stretches as +1/-1 changes, swept in time order.
        var queue = queueSpans
        for track in tracks.values where track.closedAt == nil && track.holder == nil && end > track.since {
            queue.append(Span(start: track.since, end: end, skill: track.skill))
        }
        for span in queue {
            spread(span.start, span.end, skill: span.skill) { sheet, length in sheet.queuedTime += length.value }
        }
        whole.peak = Self.peak(queue, from: from, to: stop)
        for hour in hours.indices {
            hours[hour].peak = Self.peak(queue, from: slots[hour], to: slots[hour + 1])
        }
        for skill in Set(queue.map(\.skill)) {
            skills[skill, default: Sheet()].peak = Self.peak(queue.filter { $0.skill == skill }, from: from, to: stop)
        }

        let length = stop - from
        return DayFigures(
            from: from, to: stop, whole: whole.figures(over: length),
            hours: hours.indices.map { hour in
                DayFigures.Hour(
                    start: slots[hour], end: slots[hour + 1], localHour: localHour(of: slots[hour]),
                    figures: hours[hour].figures(over: slots[hour + 1] - slots[hour]))
            },
            skills: skills.mapValues { $0.figures(over: length) })
    }

    /// The most conversations waiting at once within `[start, finish)`.
    private static func peak(_ spans: [Span], from start: Instant, to finish: Instant) -> Int {
        var changes: [(at: Instant, change: Int)] = []
        for span in spans where span.end > start && span.start < finish {
            changes.append((max(span.start, start), 1))
            changes.append((span.end, -1))
        }
        // A conversation leaving at the instant another arrives is not waiting beside it.
        changes.sort { $0.at != $1.at ? $0.at < $1.at : $0.change < $1.change }
        var waiting = 0
        var most = 0
        for change in changes {
            waiting += change.change
            most = max(most, waiting)
        }
        return most
    }

    /// `from`, each local hour boundary after it, and `stop`.
    private func hourSlots(from: Instant, until stop: Instant) -> [Instant] {
        var slots = [from]
        let hour: Int64 = 3_600_000
        var cursor = from
        while cursor < stop {
            let local = cursor.unixMilliseconds + calendar.offset(at: cursor)
            let floored = local - ((local % hour) + hour) % hour
            let next = Instant(unixMilliseconds: floored + hour - calendar.offset(at: cursor))
            cursor = next > cursor ? min(next, stop) : Instant(unixMilliseconds: cursor.unixMilliseconds + hour)
            slots.append(min(cursor, stop))
        }
        if slots.count == 1 { slots.append(stop) }
        return slots
    }

    private func localHour(of instant: Instant) -> Int {
        let local = instant.unixMilliseconds + calendar.offset(at: instant)
        return Int(((local % 86_400_000) + 86_400_000) % 86_400_000 / 3_600_000)
    }

    /// What a slice collects before it becomes `Figures`.
    private struct Sheet {
        var conversations = 0
        var rounds = 0
        var answeredInTime = 0
        var breaches = 0
        var escalations = 0
        var firstResponses: [Milliseconds] = []
        var queueWaits: [Milliseconds] = []
        var chats = 0
        var chatsByAgent: [AgentID: Int] = [:]
        var online: Set<AgentID> = []
        var onlineTime: Int64 = 0
        var busySlotTime: Int64 = 0
        var capacityTime: Int64 = 0
        var queuedTime: Int64 = 0
        var peak = 0

        func figures(over length: Milliseconds) -> DayFigures.Figures {
            var figures = DayFigures.Figures()
            figures.conversations = conversations
            figures.rounds = rounds
            figures.answeredInTime = answeredInTime
            figures.breaches = breaches
            figures.escalations = escalations
            let responses = firstResponses.sorted()
            figures.firstResponseP50 = Self.percentile(0.5, of: responses)
            figures.firstResponseP90 = Self.percentile(0.9, of: responses)
            let waits = queueWaits.sorted()
            figures.waitedInQueue = waits.count { $0.value > 0 }
            figures.queueWaitP50 = Self.percentile(0.5, of: waits)
            figures.queueWaitP90 = Self.percentile(0.9, of: waits)
            figures.queueWaitLongest = waits.last
            figures.queueWaitMean =
                waits.isEmpty ? nil : Milliseconds(waits.reduce(0) { $0 + $1.value } / Int64(waits.count))
            figures.chats = chats
            figures.chatsByAgent = chatsByAgent
            figures.agentsOnline = online.count
            figures.onlineTime = Milliseconds(onlineTime)
            figures.busySlotTime = Milliseconds(busySlotTime)
            figures.capacityTime = Milliseconds(capacityTime)
            figures.waitingMean = length.value > 0 ? Double(queuedTime) / Double(length.value) : 0
            figures.waitingPeak = peak
            return figures
        }

        /// Nearest rank, as the day reports take it.
        static func percentile(_ fraction: Double, of sorted: [Milliseconds]) -> Milliseconds? {
            guard !sorted.isEmpty else { return nil }
            let rank = Int((fraction * Double(sorted.count)).rounded(.up))
            return sorted[max(0, min(sorted.count, rank) - 1)]
        }
    }
}
