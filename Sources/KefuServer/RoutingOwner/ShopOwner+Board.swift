import KefuCore
import KefuProtocol

/// `BOARD`: the supervisor board as protocol lines, what the board page (`GET /`) draws. Answered whole, then pushed:
/// at each housekeeping tick (every second) a subscribed session gets the lines that changed since it last heard
/// them, never the same line twice. The numbers are those of `/metrics` and the day sheets: the live state from the
/// core's readings, the day from the owner's `DayTally`.
extension ShopOwner {
    /// `BOARD` from a supervisor: every line, the completion, and the pushes from then on.
    func answerBoard(_ session: SessionState, tag: String) {
        let lines = boardLines()
        session.board = Dictionary(lines.map { ($0.key, $0.line) }, uniquingKeysWith: { _, last in last })
        if !boardSessions.contains(where: { $0 === session }) { boardSessions.append(session) }
        emitListing(lines.map(\.line), completion: .ok(tag: tag, [Field("count", "\(lines.count)")]), to: session)
    }

    /// `CHATS`: the open conversations behind a board number (an agent's, a skill's, a store's, the unanswered ones),
    /// by id, as `* CHAT` data lines.
    func answerChats(
        _ session: SessionState, tag: String, agent: String?, skill: String?, store: String?, unanswered: Bool
    ) {
        let now = clock.now()
        let records = core.openConversations { record in
            (agent == nil || record.agent?.rawValue == agent) && (skill == nil || record.skill.name == skill)
                && (store == nil || (record.store ?? "(none)") == store)
                && (!unanswered || (record.state == .assigned && record.roundStartedAt != nil))
        }
        let lines = records.map { record -> OutboundLine in
            .data(
                name: "CHAT",
                [
                    Field("conv", record.id.description), Field("state", record.state.rawValue),
                    Field("agent", record.agent?.rawValue ?? "none"), Field("skill", record.skill.name),
                    Field("store", record.store ?? "(none)"), Field("customer", record.customer.rawValue),
                    Field("round", "\(record.round)"), Field("waited_ms", "\((now - record.openedAt).value)"),
                    Field("unanswered_ms", record.roundStartedAt.map { "\((now - $0).value)" } ?? "-"),
                ])
        }
        emitListing(lines, completion: .ok(tag: tag, [Field("count", "\(lines.count)")]), to: session)
    }

    /// The changed lines to every subscribed session (a housekeeping tick).
    func pushBoard() {
        boardSessions.removeAll { $0.gone || $0.closing }
        guard !boardSessions.isEmpty else { return }
        let lines = boardLines()
        for session in boardSessions {
            for (key, line) in lines where session.board[key] != line {
                session.board[key] = line
                emit(.line(session, line))
            }
        }
    }

    /// The board now, each line with the key it replaces on the page.
    func boardLines() -> [(key: String, line: OutboundLine)] {
        let now = clock.now()
        today.roll(to: now)
        let readings = core.readings(at: now)
        let policy = core.policy
        var lines: [(key: String, line: OutboundLine)] = []
        var total = ShopReadings.OpenChats()
        for chats in readings.skills.values {
            total.waiting += chats.waiting
            total.unanswered += chats.unanswered
            total.active += chats.active
            total.oldestWaiting = Self.longer(total.oldestWaiting, chats.oldestWaiting)
            total.oldestUnanswered = Self.longer(total.oldestUnanswered, chats.oldestUnanswered)
        }
        let warnBefore = policy.warnBefore ?? Milliseconds(policy.response.value * 80 / 180)
        var shop = Self.chatFields(total)
        shop += ShopReadings.agentStates.map { Field($0, "\(readings.agents[$0] ?? 0)") }
        shop += [
            Field("seats_used", "\(readings.slotsUsed)"), Field("seats", "\(readings.slots)"),
            Field("first_response_limit_ms", "\(policy.firstResponse.value)"),
            Field("response_limit_ms", "\(policy.response.value)"), Field("warn_before_ms", "\(warnBefore.value)"),
            Field("first_response_p50_ms", today.firstResponse(percentile: 0.5).map { "\($0)" } ?? "-"),
            Field("first_response_p90_ms", today.firstResponse(percentile: 0.9).map { "\($0)" } ?? "-"),
        ]
        shop += Self.dayFields(today.shop)
        lines.append(("shop", .data(name: "BOARD-SHOP", shop)))
        for (skill, chats) in readings.skills.sorted(by: { $0.key < $1.key }) {
            lines.append(("skill:\(skill)", .data(name: "BOARD-SKILL", [Field("skill", skill.name)] + Self.chatFields(chats))))
        }
        let stores = Set(readings.stores.keys).union(today.stores.keys).sorted()
        for store in stores {
            let fields =
                [Field("store", store)] + Self.chatFields(readings.stores[store] ?? ShopReadings.OpenChats())
                + Self.dayFields(today.stores[store] ?? DayTally.Score())
            lines.append(("store:\(store)", .data(name: "BOARD-STORE", fields)))
        }
        for (id, agent) in readings.agentRows.sorted(by: { $0.key < $1.key }) {
            var fields = [
                Field("agent", id.rawValue), Field("state", agent.state),
                Field("since_ms", agent.since.map { "\(max(0, (now - $0).value))" } ?? "-"),
                Field("held", "\(agent.held)"), Field("wrap_up", "\(agent.wrapUps)"), Field("max", "\(agent.maxChats)"),
                Field("unanswered", "\(agent.unanswered)"),
                Field("oldest_unanswered_ms", agent.oldestUnanswered.map { "\($0.value)" } ?? "-"),
            ]
            fields += Self.dayFields(today.agents[id] ?? DayTally.Score())
            fields.append(Field("name", agent.name))
            lines.append(("agent:\(id)", .data(name: "BOARD-AGENT", fields)))
        }
        lines.append(("hours", .data(name: "BOARD-HOURS", [Field("arrivals", today.arrivals.map(String.init).joined(separator: ","))])))
        return lines
    }

    private static func chatFields(_ chats: ShopReadings.OpenChats) -> [Field] {
        [
            Field("waiting", "\(chats.waiting)"), Field("oldest_wait_ms", chats.oldestWaiting.map { "\($0.value)" } ?? "-"),
            Field("unanswered", "\(chats.unanswered)"),
            Field("oldest_unanswered_ms", chats.oldestUnanswered.map { "\($0.value)" } ?? "-"),
            Field("active", "\(chats.active)"),
        ]
    }

    /// The day so far: rounds, met, breached, the rate (4 decimals), ratings and their mean.
    private static func dayFields(_ score: DayTally.Score) -> [Field] {
        [
            Field("rounds_today", "\(score.rounds)"), Field("met_today", "\(score.met)"),
            Field("breached_today", "\(score.breached)"),
            Field("rate_today", score.rate.map { String(format: "%.4f", $0) } ?? "-"),
            Field("ratings_today", "\(score.ratings)"),
            Field("csat_today", score.meanRating.map { String(format: "%.2f", $0) } ?? "-"),
            Field("good_today", "\(score.stars[3] + score.stars[4])"), Field("bad_today", "\(score.stars[0] + score.stars[1])"),
        ]
    }

    private static func longer(_ a: Milliseconds?, _ b: Milliseconds?) -> Milliseconds? {
        guard let a else { return b }
        guard let b else { return a }
        return max(a, b)
    }
}
