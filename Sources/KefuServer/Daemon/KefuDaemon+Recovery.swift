import KefuConfig
import KefuCore
import KefuStore

extension KefuDaemon {
    /// Opens shop `shop`'s store and rebuilds its routing state from it: open conversations with their agents, queue places and
    /// absolute deadlines, notes, each agent's last assignment, and the buyers who return within the sticky window.
    /// A large store takes a while: systemd hears that kefud is still at it (`EXTEND_TIMEOUT_USEC=`).
    func recover(_ shop: String, _ configuration: KefuConfiguration) async throws -> (ConversationStore, RoutingCore) {
        let directory = ConversationStore.directory(of: shop, in: stateDirectory)
        let store = try await timeoutExtension.during(notifier.base) {
            try ConversationStore(directory: directory, logger: self.logger)
        }
        return (store, try await restore(shop, configuration, from: store))
    }

    /// Rebuilds shop `shop`'s routing state from its store (SQLite at start, or PostgreSQL when a node of a cluster
    /// takes the shop over).
    func restore(_ shop: String, _ configuration: KefuConfiguration, from store: any RecordStore) async throws
        -> RoutingCore
    {
        let policy = RoutingPolicy(configuration)
        let startedAt = clock.now()
        let (core, open, next) = try await timeoutExtension.during(notifier.base) {
            // Read on the store's thread without blocking this one: the extender above needs a thread to say
            // "still at it".
            let since = startedAt + Milliseconds(-policy.rules.stickyWindow.value)
            let recovered = try await store.read { try $0.recoveredState(returningBuyersSince: since) }
            var core = RoutingCore(policy: policy, nextConversationID: recovered.nextConversationID)
            let repair = core.restore(
                recovered.openConversations, lastAssignedAt: recovered.lastAssignedAt, notes: recovered.notes,
                returningBuyers: recovered.returningBuyers.mapValues { (agent: $0.agent, closedAt: $0.closedAt) },
                sentRefs: recovered.sentRefs, at: startedAt
            )
            if !repair.records.isEmpty { try await store.commit(repair.records) }
            // Surveys sent before the restart stay answerable (once) until they expire.
            core.restoreSurveys(try await store.read { try $0.openSurveys(at: startedAt) }, at: startedAt)
            return (core, recovered.openConversations.count, recovered.nextConversationID)
        }
        logger.info(
            "store recovered", metadata: ["shop": "\(shop)", "open": "\(open)", "next_conversation": "\(next)"])
        return core
    }
}
