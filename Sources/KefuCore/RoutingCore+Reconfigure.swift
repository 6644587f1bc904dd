/// A reload: new rules for a running floor, without dropping anyone.
extension RoutingCore {
    /// Routes by `newPolicy` from now on. Agents added may log in; agents removed are signed out and their chats go
    /// back to the front of the queue (or on to whoever can take them); capacity and skills apply to the next
    /// decision (a lowered capacity never takes a chat away, it only stops new ones, and a raised one takes waiting
    /// work at once); skill rules apply to waiting chats at once (widening steps already taken stay taken); new
    /// first-response and response limits apply to every round still waiting, counted from the round's start (one
    /// that is now past due breaches at once).
    mutating func reconfigure(_ newPolicy: RoutingPolicy, at now: Instant) {
        fileChangedAgents()
        let removed = Set(policy.agents.map(\.id)).subtracting(newPolicy.agents.map(\.id))
        policy = newPolicy
        rebuildSkillIndex()

        // Removed agents give up their chats first; the chats are placed once the new rules are in force.
        var unheld: [ConversationID] = []
        for id in removed.sorted() {
            for conversation in agents[id]?.held.sorted() ?? [] {
                revoke(conversation, reason: .removed, at: now)
                recordAssignment(conversation, agent: nil, at: now, reason: .removed)
                unheld.append(conversation)
            }
            effects.append(.signOut(id, reason: .removed))
            // Its working day ends here: the presence records say so (a later reload may add it back, offline).
            if let recorded = agents[id]?.recordedPresence, recorded != .offline {
                effects.append(.persist(.presence(PresenceRecord(agent: id, at: now, presence: .offline))))
            }
            if let handle = agents.handle(of: id) { roster.remove(handle) }
            agents.remove(id)
        }
        for profile in newPolicy.agents {
            if agents[profile.id] == nil {
                agents.add(AgentState(profile: profile, skills: &skillNumbers, stores: &storeLanes))
                roster.update(agents[profile.id]!)
            } else if agents[profile.id]!.profile != profile {
                var (skills, stores) = (skillNumbers, storeLanes)
                changeAgent(profile.id) { $0.setProfile(profile, skills: &skills, stores: &stores) }
                (skillNumbers, storeLanes) = (skills, stores)
                if let agent = agents[profile.id], agent.held.count > profile.maxChats {
                    for id in agent.held { conversations[id]?.keptOverLimit = true }
                }
            }
        }

        for id in conversations.keys.sorted() {
            guard var open = conversations[id] else { continue }
            // A store the new roster lists for the first time gets its own lane (the queue moves the chat below).
            open.storeLane = storeLanes.lane(of: open.record.store)
            // A reservation for an agent who is gone no longer holds anyone up.
            if let reserved = open.reservedFor, agents[reserved] == nil {
                open.reservedFor = nil
                open.reservedUntil = nil
            }
            // Widening follows the new schedule from the chat's opening; a step already taken stays taken.
            let passed = widenSteps(of: open.record, skill: open.skill).filter { $0.at <= now }.map(\.step).max() ?? 0
            open.widenStep = max(open.widenStep, passed)
            // The round waiting for an answer runs to the new limit, counted from its start.
            var changed = false
            if let started = open.record.roundStartedAt, open.record.roundBreachedAt == nil {
                let due = policy.calendar(for: open.record).adding(
                    policy.limit(ofRound: open.record.round, for: open.record), to: started)
                if due != open.record.roundDueAt {
                    open.record.roundDueAt = due
                    if open.record.round == 1 { open.record.firstResponseDueAt = due }
                    armRound(of: open.record, warnAfter: now)
                    changed = true
                }
            }
            conversations[id] = open
            armWidening(open.record, skill: open.skill, after: now)
            armBuyerIdle(open.record, after: now)
            armEscalation(of: open.record)
            if changed {
                persist(id)
                persistRound(of: open.record)
            }
            if queue.contains(id) {
                // New lanes (levels and fallbacks may have changed); the place in the queue is kept.
                queue.insert(
                    QueueKey(effectiveArrival: effectiveArrival(open.record), conversation: id),
                    skill: open.skill, lanes: lanes(open)
                )
                queueChanged.insert(open.skill)
            }
        }

        // Chats of removed agents go to whoever can take them, or back to the front of the queue (they keep their
        // arrival); then every agent with room takes the waiting work it may serve now, as when capacity appears.
        for id in unheld { place(id, at: now, reason: .removed) }
        for id in agents.keys.sorted() where agents[id].map({ $0.isAvailable && $0.hasFreeSlot }) ?? false {
            offerCapacity(to: id, at: now)
        }
        // A clock the new limit puts in the past breaches now, not at the next command.
        fireDeadlines(upTo: now)
    }
}
