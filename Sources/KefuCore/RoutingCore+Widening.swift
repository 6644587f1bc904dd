/// Widening: a chat that waits `widen_after_s` may be taken at any level, after twice that by the skill's
/// `fallback` skills too, keeping its place and clocks.
extension RoutingCore {
    /// A conversation's widening steps: at `widen_after_s` and twice that from opening.
    func widenSteps(of record: ConversationRecord, skill: Int) -> [(step: Int, at: Instant)] {
        guard let widen = skillTable.widenAfter(of: skill) else { return [] }
        return [(1, record.openedAt + widen), (2, record.openedAt + Milliseconds(widen.value * 2))]
    }

    /// Arms the widening steps still ahead (all of them for a new conversation).
    mutating func armWidening(_ record: ConversationRecord, skill: Int, after now: Instant? = nil) {
        for (step, at) in widenSteps(of: record, skill: skill) where now.map({ at > $0 }) ?? true {
            deadlines.arm(.widen(record.id, step: step), at: at)
        }
    }

    /// A waiting conversation widens: lower required level, then fallback skills. It keeps its place and clocks.
    mutating func widen(_ id: ConversationID, to step: Int, at now: Instant) {
        // A step armed for a skill the chat has since been transferred away from no longer applies.
        guard let open = conversations[id], open.widenStep < step,
            widenSteps(of: open.record, skill: open.skill).contains(where: { $0.step == step && $0.at <= now })
        else { return }
        conversations[id]!.widenStep = step
        guard queue.contains(id) else { return }  // held by an agent: widening only matters while waiting
        let key = QueueKey(effectiveArrival: effectiveArrival(open.record), conversation: id)
        queue.insert(key, skill: open.skill, lanes: lanes(conversations[id]!))
        route(id, at: now, reason: .routed)
    }
}
