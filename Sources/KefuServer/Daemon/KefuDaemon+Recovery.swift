import KefuConfig
import KefuCore
import KefuStore

extension KefuDaemon {
    /// Opens shop `shop`'s store and rebuilds its routing state from it: open conversations with their agents, queue places and
    /// absolute deadlines, notes, each agent's last assignment, and the buyers who return within the sticky window.
    /// A large store takes a while: systemd hears that kefud is still at it (`EXTEND_TIMEOUT_USEC=`).
    func recover(_ shop: String, _ configuration: KefuConfiguration) async throws -> (ConversationStore, RoutingCore) {
        let directory = ConversationStore.directory(of: shop, in: stateDirectory)
        let store = try await whileTheStoreCannotWrite(shop) {
            try await self.timeoutExtension.during(self.notifier.base) {
                try ConversationStore(directory: directory, logger: self.logger)
            }
        }
        let core = try await whileTheStoreCannotWrite(shop) { try await self.restore(shop, configuration, from: store) }
        return (store, core)
    }

    /// At start, a store that cannot be opened or written for a reason that may clear (a full disk, an I/O error) is
    /// waited for, retried every 0.5 s backing off to 5 s, rather than ending kefud into a restart loop: one critical
    /// log line, `STATUS=waiting for the store…`, `/readyz` 503, systemd's start timeout extended meanwhile (up to
    /// its limit). Any other failure (not a database, a newer schema) ends the start as before.
    func whileTheStoreCannotWrite<T>(_ shop: String, _ body: () async throws -> T) async throws -> T {
        var wait = Duration.milliseconds(500)
        var said = false
        while true {
            do {
                let value = try await body()
                if said {
                    logger.notice(
                        "the store can be used again", metadata: ["event": "store_recovered", "shop": "\(shop)"])
                }
                return value
            } catch let error as StoreError where error.mayClearAtStart {
                if !said {
                    said = true
                    logger.critical(
                        "the store cannot be opened or written (disk full?); waiting for it",
                        metadata: ["event": "store_unavailable", "shop": "\(shop)", "error": "\(error)"])
                }
                notifier.base.status("waiting for the store of shop \(shop): \(error.message); retrying")
                try await timeoutExtension.during(notifier.base) { try await Task.sleep(for: wait) }
                wait = min(wait * 2, .seconds(5))
            }
        }
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
            // Surveys sent before the restart stay answerable (once) until they expire.
            let surveys = try await store.read { try $0.openSurveys(at: startedAt) }
            let point = RestorePoint(
                policy: policy, at: startedAt, nextConversationID: recovered.nextConversationID,
                openConversations: recovered.openConversations, lastAssignedAt: recovered.lastAssignedAt,
                notes: recovered.notes,
                returningBuyers: recovered.returningBuyers.mapValues {
                    RestorePoint.ReturningBuyer(agent: $0.agent, closedAt: $0.closedAt)
                },
                sentRefs: recovered.sentRefs, surveys: surveys)
            let (core, repair) = RoutingCore.restored(from: point)
            // The input journal's run starts here: a replay rebuilds the same core from the same point. Written with
            // the repairs the rebuild made, before the owner takes any input.
            var start = repair.records
            if configuration.replay.isEnabled {
                var inputs = InputJournal()
                inputs.record(point)
                if let chunk = inputs.take() { start.append(.journal(chunk)) }
            }
            if !start.isEmpty { try await store.commit(start) }
            return (core, recovered.openConversations.count, recovered.nextConversationID)
        }
        logger.info(
            "store recovered", metadata: ["shop": "\(shop)", "open": "\(open)", "next_conversation": "\(next)"])
        return core
    }
}
