import KefuTestSupport
import Testing

/// Who may do what to which conversation (issue #14), as a table: every verb × every role × the caller's own
/// conversation, another's, and one that does not exist, with the exact answer. Not the caller's is `not-found`
/// (the same text as nonexistent: nothing tells that it exists); `forbidden` only ever means the role may not use
/// the verb.
@Suite(.serialized) struct AccessTableTests {
    enum Role: String, CaseIterable, Sendable { case customer, gateway, agent, supervisor, manager }
    enum Target: String, Sendable { case own, others, none }

    /// What is expected: success (the completion starts `OK`), `not-found`, or the exact `forbidden`/`bad-args` text.
    enum Answer: Equatable, Sendable, CustomStringConvertible {
        case ok
        case notFound
        case error(String)

        var description: String {
            switch self {
            case .ok: "OK…"
            case .notFound: "ERR not-found :no such conversation"
            case .error(let text): "ERR \(text)"
            }
        }

        func matches(_ completion: String) -> Bool {
            switch self {
            case .ok: completion.hasPrefix("OK")
            case .notFound, .error: completion == description
            }
        }
    }

    static let notFound = Answer.notFound
    static let gatewaysOnly = Answer.error("forbidden :gateways open, send, close and read history only")

    /// The conversation each target means for each role (see `setUp`): 1 is buyer `mine`'s, held by alice; 2 is
    /// buyer `theirs`', held by bob; 3 is the gateway's buyer `gw`'s, held by alice; 4 is `mine`'s again, held by
    /// alice (the one `CLOSE` closes, so that the rows after it still find 1 open).
    static func conversation(_ target: Target, _ role: Role, closing: Bool = false) -> Int {
        switch (target, role) {
        case (.none, _): 999
        case (.own, .gateway): 3
        case (.others, .gateway): 1
        case (.own, _): closing ? 4 : 1
        case (.others, _): 2
        }
    }

    /// The verbs that name a conversation, in the order they run (writes last, `CLOSE` at the very end), each with
    /// its expected answer per role and target.
    static let conversationVerbs:
        [(verb: String, line: @Sendable (Int, Role) -> String, expect: @Sendable (Role, Target) -> Answer)] = [
        ("HISTORY", { c, r in "HISTORY \(c)\(r == .gateway ? " customer=gw" : "")" }, { role, target in
            switch (role, target) {
            case (.supervisor, .none), (.manager, .none): notFound
            case (.supervisor, _), (.manager, _): .ok
            case (_, .own): .ok
            default: notFound
            }
        }),
        ("NOTES", { c, _ in "NOTES \(c)" }, { role, target in
            switch (role, target) {
            case (.customer, _): .error("forbidden :notes are internal: agents and supervisors only")
            case (.gateway, _): gatewaysOnly
            case (.agent, .own), (.supervisor, .own), (.supervisor, .others), (.manager, .own), (.manager, .others): .ok
            default: notFound
            }
        }),
        ("EXPLAIN", { c, _ in "EXPLAIN \(c)" }, { role, target in
            switch (role, target) {
            case (.customer, _): .error("forbidden :EXPLAIN is for agents and supervisors")
            case (.gateway, _): gatewaysOnly
            case (.agent, .own), (.supervisor, .own), (.supervisor, .others), (.manager, .own), (.manager, .others): .ok
            default: notFound
            }
        }),
        ("DUE", { c, _ in "DUE \(c)" }, { role, target in
            switch (role, target) {
            case (.customer, _): .error("forbidden :DUE is for agents and supervisors")
            case (.gateway, _): gatewaysOnly
            case (.agent, .own), (.supervisor, .own), (.supervisor, .others), (.manager, .own), (.manager, .others): .ok
            default: notFound
            }
        }),
        ("NOTE", { c, _ in "NOTE \(c) :老客户" }, { role, target in
            switch (role, target) {
            case (.customer, _): .error("forbidden :notes are internal: agents and supervisors only")
            case (.gateway, _): gatewaysOnly
            case (.agent, .own), (.supervisor, .own), (.supervisor, .others), (.manager, .own), (.manager, .others): .ok
            default: notFound
            }
        }),
        ("SEND", { c, r in "SEND \(c)\(r == .gateway ? " customer=gw" : "") :你好" }, { role, target in
            switch (role, target) {
            case (.supervisor, .own), (.supervisor, .others), (.manager, .own), (.manager, .others):
                .error("forbidden :supervisors do not write in conversations")
            case (_, .own): .ok
            default: notFound
            }
        }),
        ("HOLD", { c, _ in "HOLD \(c) :等仓库回复" }, { role, target in
            switch (role, target) {
            case (.customer, _): .error("forbidden :only agents put chats on hold")
            case (.gateway, _): gatewaysOnly
            case (.supervisor, _), (.manager, _): .error("forbidden :only agents put chats on hold")
            case (.agent, .own): .ok
            default: notFound
            }
        }),
        ("RATE", { c, r in "RATE \(c) 5\(r == .gateway ? " customer=gw" : "")" }, { role, target in
            switch (role, target) {
            case (.agent, _), (.supervisor, _), (.manager, _): .error("forbidden :RATE is for buyers")
            // No survey is open yet (none is closed): the same answer for one's own, another's and none.
            default: .error("not-found :no survey open for conversation \(conversation(target, role))")
            }
        }),
        ("ASSIGN", { c, _ in "ASSIGN \(c) carol" }, { role, target in
            switch (role, target) {
            case (.customer, _), (.agent, _): .error("forbidden :only supervisors assign")
            case (.gateway, _): gatewaysOnly
            case (_, .none): notFound
            default: .ok
            }
        }),
        ("TRANSFER", { c, _ in "TRANSFER \(c) agent=bob :转售后" }, { role, target in
            switch (role, target) {
            case (.customer, _), (.supervisor, _), (.manager, _): .error("forbidden :only agents transfer")
            case (.gateway, _): gatewaysOnly
            case (.agent, .own): .ok
            default: notFound
            }
        }),
        ("CLOSE", { c, r in "CLOSE \(c)\(r == .gateway ? " customer=gw" : "")" }, { role, target in
            switch (role, target) {
            case (.supervisor, .none), (.manager, .none): notFound
            case (.supervisor, _), (.manager, _): .ok
            case (_, .own): .ok
            default: notFound
            }
        }),
    ]

    /// The verbs that name no conversation: allowed or `forbidden` by role.
    static let roleVerbs: [(line: String, allowed: Set<Role>, forbidden: [Role: String])] = [
        ("OPEN presales :在吗", [.customer], [
            .agent: "forbidden :only customers open conversations", .supervisor: "forbidden :only customers open conversations",
            .manager: "forbidden :only customers open conversations", .gateway: "bad-args :a gateway names the buyer with customer=",
        ]),
        ("QUEUE", [.supervisor, .manager], supervisorsOnly("QUEUE")),
        ("AGENTS", [.supervisor, .manager], supervisorsOnly("AGENTS")),
        ("CHATS", [.supervisor, .manager], supervisorsOnly("CHATS")),
        ("BOARD", [.supervisor, .manager], supervisorsOnly("BOARD")),
        ("WATCH", [.supervisor, .manager], supervisorsOnly("WATCH")),
        ("PRESENCE away", [.agent], agentsOnly("only agents set presence")),
        ("HANDOVER :交接", [.agent], agentsOnly("only agents hand over")),
    ]

    static func supervisorsOnly(_ verb: String) -> [Role: String] {
        [.customer: "forbidden :\(verb) is for supervisors", .agent: "forbidden :\(verb) is for supervisors"]
    }

    static func agentsOnly(_ text: String) -> [Role: String] {
        [.customer: "forbidden :\(text)", .supervisor: "forbidden :\(text)", .manager: "forbidden :\(text)"]
    }

    /// A daemon with the four conversations, and a session of `role` (buyer `mine`, the gateway for `gw`, alice,
    /// lead, or the manager boss).
    func setUp(_ role: Role) async throws -> (TestDaemon, LineClient) {
        let manager = "[[manager]]\nid = \"boss\"\ntoken_sha256 = \"\(Secrets.lead.1)\"\n"
        let daemon = try await TestDaemon.start(testConfiguration(extra: manager))
        let lead = try await daemon.supervisor()
        _ = try await daemon.agent("alice", Secrets.alice)
        _ = try await daemon.agent("bob", Secrets.bob)
        _ = try await daemon.agent("carol", Secrets.carol)
        let mine = try await daemon.customer("mine")
        let theirs = try await daemon.customer("theirs")
        let gateway = try await daemon.gateway()
        #expect(try await mine.completion("o1 OPEN presales :第一") == "o1 OK conv=1")
        #expect(try await theirs.completion("o2 OPEN presales :第二") == "o2 OK conv=2")
        #expect(try await gateway.completion("o3 OPEN presales customer=gw :第三") == "o3 OK conv=3")
        #expect(try await mine.completion("o4 OPEN presales :第四") == "o4 OK conv=4")
        for (conversation, agent) in [(1, "alice"), (2, "bob"), (3, "alice"), (4, "alice")] {
            // Routing may have given it to that agent already (`conflict`): either way the agent holds it now.
            let answer = try await lead.completion("a\(conversation) ASSIGN \(conversation) \(agent)")
            #expect(answer.hasPrefix("a\(conversation) OK") || answer.hasSuffix("\(agent) already holds it"), "\(answer)")
        }
        let session: LineClient
        switch role {
        case .customer: session = mine
        case .gateway: session = gateway
        case .agent: session = try await daemon.agent("alice", Secrets.alice)
        case .supervisor: session = lead
        case .manager: session = try await daemon.login("manager", "boss", Secrets.lead.0)
        }
        return (daemon, session)
    }

    @Test(arguments: Role.allCases) func everyVerbOnOwnOthersAndNonexistentConversations(_ role: Role) async throws {
        let (daemon, session) = try await setUp(role)
        var row = 0
        for (verb, line, expect) in Self.conversationVerbs {
            for target in [Target.none, .others, .own] {
                row += 1
                let conversation = Self.conversation(target, role, closing: verb == "CLOSE")
                let answer = try await session.completion("t\(row) \(line(conversation, role))")
                let completion = String(answer.dropFirst("t\(row) ".count))
                let expected = expect(role, target)
                #expect(expected.matches(completion), "\(role) \(verb) \(target)'s: \(completion), expected \(expected)")
            }
        }
        for (line, allowed, forbidden) in Self.roleVerbs {
            row += 1
            let answer = try await session.completion("t\(row) \(line)")
            let completion = String(answer.dropFirst("t\(row) ".count))
            let expected: Answer =
                allowed.contains(role) ? .ok : forbidden[role].map(Answer.error) ?? Self.gatewaysOnly
            #expect(expected.matches(completion), "\(role) \(line): \(completion), expected \(expected)")
        }
        try await daemon.stop()
    }
}
