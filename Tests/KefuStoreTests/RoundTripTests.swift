import KefuTestSupport
import KefuCore
import KefuStore
import Testing

@Suite struct RoundTripTests {
    @Test func everyRecordTypeRoundTrips() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            let row = conversation(
                7, store: "京东自营", language: "zh-CN", state: .assigned, agent: "alice", priority: .vip,
                firstRespondedAt: at(5), breachedAt: at(6), messageCount: 2
            )
            let explained = decision(
                7, "alice", 100,
                [
                    Candidate(agent: "alice", verdict: .chosen),
                    Candidate(agent: "bob", verdict: .higherLoad(held: 5, max: 5)),
                ])
            let assignments = [
                assignment(7, "alice", 100, decision: explained),
                assignment(7, nil, 200, .offline, decision: explained),
                assignment(
                    7, "bob", 300, .firstResponse,
                    decision: decision(
                        7, "bob", 290, rule: .transfer(by: "alice", reason: "退款 \"找\" bob\\"),
                        [
                            Candidate(agent: "alice", verdict: .excluded(.letFirstResponseBreach)),
                            Candidate(agent: "bob", verdict: .chosen),
                        ])),
                assignment(
                    7, "alice", 400,
                    decision: decision(7, "alice", 400, rule: .waitingForReturningAgent("单行 ✓", seconds: 90))),
            ]
            let notes = [note(7, 1, "客户要求周五前发货"), note(7, 2, "line one\nline two", author: "supervisor-1")]
            try await store.commit(
                [.conversation(row), .message(message(7, 1, "我想退货")), .message(message(7, 2, "好的", sender: .agent))]
                    + assignments.map(Record.assignment) + notes.map(Record.note)
            )
            let id = ConversationID(7)
            #expect(try await store.read { try $0.conversation(id) } == row)
            #expect(
                try await store.read { try $0.history(of: id) }
                    == [message(7, 1, "我想退货"), message(7, 2, "好的", sender: .agent)]
            )
            #expect(try await store.read { try $0.assignments(of: id) } == assignments)
            #expect(try await store.read { try $0.latestAssignment(of: id) } == assignments.last)
            #expect(try await store.read { try $0.agentsWhoHeld(id) } == ["alice", "bob"])
            #expect(try await store.read { try $0.notes(of: id) } == notes)

            let unknown = ConversationID(8)
            #expect(try await store.read { try $0.conversation(unknown) } == nil)
            #expect(try await store.read { try $0.history(of: unknown) }.isEmpty)
            #expect(try await store.read { try $0.agentsWhoHeld(unknown) }.isEmpty)
            #expect(try await store.read { try $0.assignments(of: unknown) }.isEmpty)
            #expect(try await store.read { try $0.latestAssignment(of: unknown) } == nil)
            #expect(try await store.read { try $0.notes(of: unknown) }.isEmpty)
            await store.shutdown()
        }
    }

    @Test func roundsAndTheCurrentRoundRoundTripAndARoundRowIsRewrittenAsItChanges() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            var row = conversation(9, state: .assigned, agent: "alice", firstRespondedAt: at(20), messageCount: 3)
            row.round = 2
            row.roundStartedAt = at(30)
            row.roundDueAt = at(210)
            row.roundBreachedAt = at(211)
            row.roundWarnedAt = at(130)
            row.buyerIdleSince = at(25)
            row.heldSince = at(40)
            row.holdRemaining = Milliseconds(170)
            row.resolutionDueAt = at(3_600_000)
            row.resolutionBreachedAt = nil
            var first = RoundRecord(
                conversation: ConversationID(9), round: 1, startedAt: at(0), dueAt: at(120), answeredAt: at(20),
                agent: "alice", skill: "presales", store: "tmall"
            )
            let running = RoundRecord(
                conversation: ConversationID(9), round: 2, startedAt: at(30), dueAt: at(210), agent: "alice",
                skill: "presales", store: nil
            )
            var breached = running
            breached.breachedAt = at(211)
            breached.escalationLevel = 1
            // The store keeps the wait inside business hours; the core fills it in (here: all of it).
            first.businessWaited = first.waited
            try await store.commit([.conversation(row), .round(first), .round(running)])
            try await store.commit([.round(breached)])
            #expect(try await store.read { try $0.conversation(ConversationID(9)) } == row)
            #expect(try await store.read { try $0.rounds(of: ConversationID(9)) } == [first, breached])
            #expect(first.waited == Milliseconds(20))
            #expect(breached.waited == nil)
            await store.shutdown()
        }
    }

    @Test func aSurveyIsKeptAsSentThenAsRatedAndOnlyUnexpiredOnesAreOpen() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            let row = ConversationRecord(
                id: ConversationID(3), customer: "b3", skill: "presales", priority: .normal, state: .closed,
                agent: "alice", openedAt: at(0), firstResponseDueAt: at(120), firstRespondedAt: at(5),
                breachedAt: nil, closedAt: at(60), messageCount: 2, firstMessage: "在吗")
            let sent = RatingRecord(
                conversation: ConversationID(3), customer: "b3", agent: "alice", skill: "presales", store: "tmall",
                requestedAt: at(60), expiresAt: at(1_000))
            var rated = sent
            rated.rating = 4
            rated.comment = "不错 👍"
            rated.ratedAt = at(90)
            try await store.commit([.conversation(row), .rating(sent)])
            #expect(try await store.read { try $0.survey(of: ConversationID(3)) } == sent)
            try await store.commit([.rating(rated)])
            #expect(try await store.read { try $0.survey(of: ConversationID(3)) } == rated)
            #expect(try await store.read { try $0.openSurveys(at: at(999)) } == [rated])
            #expect(try await store.read { try $0.openSurveys(at: at(1_000)) } == [])
            await store.shutdown()
        }
    }

    @Test func conversationUpsertReplacesEveryColumn() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            let opened = conversation(
                1, store: "tmall", language: "en", state: .assigned, agent: "alice", firstRespondedAt: at(9),
                breachedAt: at(8)
            )
            var closed = conversation(1, state: .closed, closedAt: at(50), messageCount: 4, firstMessage: "changed")
            closed.customer = "someone-else"
            closed.skill = "refund"
            closed.priority = .vip
            closed.openedAt = at(11)
            closed.firstResponseDueAt = at(12)
            try await store.commit([.conversation(opened)])
            try await store.commit([.conversation(closed)])
            // Including store and language going back to nil.
            #expect(try await store.read { try $0.conversation(ConversationID(1)) } == closed)
            closed.store = "jd"
            closed.language = "zh-TW"
            try await store.commit([.conversation(closed)])
            #expect(try await store.read { try $0.conversation(ConversationID(1)) } == closed)
            await store.shutdown()
        }
    }

    @Test func duplicateMessageIsIdempotent() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            try await store.commit([.conversation(conversation(1)), .message(message(1, 1, "first"))])
            try await store.commit([.message(message(1, 1, "first"))])
            try await store.commit([.message(message(1, 2, "second")), .message(message(1, 2, "second"))])
            let history = try await store.read { try $0.history(of: ConversationID(1)) }
            #expect(history == [message(1, 1, "first"), message(1, 2, "second")])
            await store.shutdown()
        }
    }

    @Test func childrenListedBeforeTheirConversationInOneBatchAreAccepted() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            try await store.commit([
                .note(note(3, 1)), .message(message(3, 1)), .assignment(assignment(3, "alice", 10)),
                .conversation(conversation(3)),
            ])
            #expect(try await store.read { try $0.history(of: ConversationID(3)) }.count == 1)
            #expect(try await store.read { try $0.agentsWhoHeld(ConversationID(3)) } == ["alice"])
            #expect(try await store.read { try $0.notes(of: ConversationID(3)) } == [note(3, 1)])
            await store.shutdown()
        }
    }

    @Test func notesComeBackInSeqOrderWhicheverOrderTheyWereWritten() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            try await store.commit([.conversation(conversation(1)), .conversation(conversation(2))])
            try await store.commit([.note(note(1, 3, "third")), .note(note(2, 1, "other conversation"))])
            try await store.commit([.note(note(1, 1, "first")), .note(note(1, 10, "tenth"))])
            try await store.commit([.note(note(1, 2, "second"))])
            #expect(
                try await store.read { try $0.notes(of: ConversationID(1)) }
                    == [note(1, 1, "first"), note(1, 2, "second"), note(1, 3, "third"), note(1, 10, "tenth")]
            )
            #expect(try await store.read { try $0.notes(of: ConversationID(2)) } == [note(2, 1, "other conversation")])
            await store.shutdown()
        }
    }

    @Test func duplicateNoteIsAnIdempotentReplace() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            try await store.commit([.conversation(conversation(1)), .note(note(1, 1, "first"))])
            try await store.commit([.note(note(1, 1, "first"))])
            try await store.commit([.note(note(1, 2, "second")), .note(note(1, 2, "second"))])
            #expect(
                try await store.read { try $0.notes(of: ConversationID(1)) }
                    == [note(1, 1, "first"), note(1, 2, "second")]
            )
            // Same key, different content: the row is replaced, not duplicated, exactly like a message.
            try await store.commit([.note(note(1, 2, "retyped", author: "bob"))])
            #expect(
                try await store.read { try $0.notes(of: ConversationID(1)) }
                    == [note(1, 1, "first"), note(1, 2, "retyped", author: "bob")]
            )
            await store.shutdown()
        }
    }

    @Test func aNoteForAnUnknownConversationFailsItsBatch() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            let outcome = await store.outcome(of: [.note(note(42, 1))])
            #expect(outcome.failureValue?.message.contains("FOREIGN KEY") == true)
            #expect(try await store.read { try $0.notes(of: ConversationID(42)) }.isEmpty)
            await store.shutdown()
        }
    }

    @Test func latestAssignmentIsTheLastOneWritten() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            try await store.commit([.conversation(conversation(1)), .assignment(assignment(1, "alice", 500))])
            let first = try await store.read { try $0.latestAssignment(of: ConversationID(1)) }
            #expect(first == assignment(1, "alice", 500))
            // Written later with an earlier instant (a clock step): still the latest, as the order of writes is what
            // the core decided in.
            let back = assignment(1, nil, 400, .removed, decision: decision(1, "alice", 300, rule: .forced(by: "lead")))
            try await store.commit([.assignment(back)])
            #expect(try await store.read { try $0.latestAssignment(of: ConversationID(1)) } == back)
            await store.shutdown()
        }
    }

    @Test func awkwardTextSurvives() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            let texts = ["", "line one\nline two\r\nline three", "emoji 👩‍💻 and 中文", "nul\u{0}inside", "' \"; --"]
            var records: [Record] = [
                .conversation(
                    conversation(1, store: "", language: "' \"; --", messageCount: texts.count, firstMessage: "")
                )
            ]
            for (index, text) in texts.enumerated() {
                records.append(.message(message(1, index + 1, text)))
                records.append(.note(note(1, index + 1, text)))
                let awkward = decision(
                    1, AgentID(text), Int64(index), rule: .recorded(text),
                    [
                        Candidate(agent: AgentID(text), verdict: .store(text)),
                        Candidate(agent: "b", verdict: .language(text)),
                    ],
                    others: [OtherAgents(skill: Skill(text), standing: .away, count: index)])
                records.append(.assignment(assignment(1, "alice", Int64(index), decision: awkward)))
            }
            try await store.commit(records)
            let history = try await store.read { try $0.history(of: ConversationID(1)) }
            #expect(history.map(\.text) == texts)
            #expect(try await store.read { try $0.notes(of: ConversationID(1)) }.map(\.text) == texts)
            let decisions = try await store.read { try $0.assignments(of: ConversationID(1)) }.map(\.decision)
            #expect(decisions.map { $0?.rule } == texts.map { .recorded($0) })
            #expect(decisions.map { $0?.agent?.rawValue } == texts)
            #expect(decisions.map { $0?.candidates.first?.verdict } == texts.map { .store($0) })
            #expect(decisions.map { $0?.others.first?.skill.name } == texts)
            let stored = try await store.read { try $0.conversation(ConversationID(1)) }
            #expect(stored?.firstMessage == "")
            // An empty store name stays empty, not NULL.
            #expect(stored?.store == "")
            #expect(stored?.language == "' \"; --")
            await store.shutdown()
        }
    }

    @Test func readErrorsComeBackAsStoreErrors() async throws {
        struct Boom: Error {}
        try await withTemporaryDirectory { directory in
            let store = try openStore(directory)
            let error = await #expect(throws: StoreError.self) {
                try await store.read { _ in throw Boom() }
            }
            #expect(error?.operation == .read)
            #expect(error?.underlying is Boom)
            // The store still works afterwards.
            try await store.commit([.conversation(conversation(1))])
            await store.shutdown()
        }
    }
}
