/// Returning buyers (老客户): back to the agent who served them within `sticky_window_s`, or a wait of up to
/// `sticky_wait_s` for that agent.
extension RoutingCore {
    /// The agent who last served a buyer, for sticky routing.
    struct ReturningBuyer {
        var agent: AgentID
        /// The agent's handle (0, the empty slot, for an agent the configuration no longer has).
        var handle: Int
        var closedAt: Instant
    }

    /// A returning buyer (老客户) goes back to the agent who served them last, within `sticky_window_s`: at once
    /// when that agent can take the chat, or after waiting up to `sticky_wait_s` when the agent is online but
    /// full. Returns false when sticky routing does not apply.
    mutating func placeWithReturningAgent(_ id: ConversationID, of customer: CustomerID, at now: Instant) -> Bool {
        guard let last = returningBuyers[customer], now - last.closedAt <= policy.rules.stickyWindow else {
            return false
        }
        // Without a sticky wait only an agent with room now matters: a busy one is ruled out before reading the
        // conversation for a full verdict (a returning buyer's agent is busy most of a busy day).
        if policy.rules.stickyWait.value <= 0, agents.inspect(handle: last.handle, { $0.canTakeMore }) != true {
            return false
        }
        guard let demand = conversations.inspect(id, { $0.demand }),
            let (verdict, _) = agents.inspect(
                handle: last.handle,
                { [rules = skillTable] in
                    $0.verdict(for: demand, at: now, rules: rules)
                })
        else { return false }
        if verdict == .chosen {
            var decision = decide(id, at: now)
            decision.agent = last.agent
            decision.rule = .returningBuyer(last.agent)
            // Others who could have taken it lost to the returning buyer's agent, not to a load comparison.
            decision.candidates = decision.candidates.map { candidate in
                if candidate.agent == last.agent { return Candidate(agent: candidate.agent, verdict: .chosen) }
                guard !Self.isUnavailability(candidate.verdict) else { return candidate }
                return Candidate(agent: candidate.agent, verdict: .reservedForAnother(last.agent))
            }
            conversations[id]?.decision = decision
            assign(id, to: last.agent, at: now, reason: .sticky, via: .sticky)
            return true
        }
        guard case .full = verdict, policy.rules.stickyWait.value > 0 else { return false }
        conversations[id]?.reservedFor = last.agent
        conversations[id]?.reservedUntil = now + policy.rules.stickyWait
        deadlines.arm(.stickyExpiry(id), at: now + policy.rules.stickyWait)
        var decision = decide(id, at: now)
        decision.agent = nil
        decision.rule = .waitingForReturningAgent(last.agent, seconds: policy.rules.stickyWait.value / 1000)
        conversations[id]?.decision = decision
        enqueue(id, at: now, notify: true)
        persist(id)
        return true
    }

    static func isUnavailability(_ verdict: Verdict) -> Bool {
        switch verdict {
        case .higherLoad, .lowerLevel, .lessIdle, .laterID, .chosen: false
        default: true
        }
    }

    /// The wait for a returning buyer's agent is over: the chat goes to whoever can take it now, or keeps its place.
    mutating func stickyWaitOver(_ id: ConversationID, at now: Instant) {
        guard let until = conversations[id]?.reservedUntil, until <= now else { return }
        conversations[id]?.reservedFor = nil
        conversations[id]?.reservedUntil = nil
        if queue.contains(id) { route(id, at: now, reason: .routed) }
    }
}
