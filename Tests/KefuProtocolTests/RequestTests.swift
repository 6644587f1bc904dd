import KefuCore
@testable import KefuProtocol
import NIOCore
import Testing

@Suite("Parsing client lines")
struct RequestTests {
    func request(_ line: String) throws -> Request {
        let parsed = try ClientLine.parse(ByteBuffer(string: line)).get()
        return try Request(parsed)
    }

    func failure(_ line: String) -> ProtocolError? {
        switch ClientLine.parse(ByteBuffer(string: line)) {
        case .failure(let error): return error
        case .success(let parsed):
            do {
                _ = try Request(parsed)
                return nil
            } catch {
                return error
            }
        }
    }

    @Test func aLoginNamesItsShopWithShopEqualsOnlyAsTheFourthWord() throws {
        let usage = "usage: LOGIN <agent|supervisor|customer|gateway> <id> <token> [shop=<shop>]"
        let badShop = ProtocolError(.badArgs, "shop must be 1-64 of a-z0-9_-")
        #expect(failure("l LOGIN agent alice t shop=") == badShop)
        #expect(failure("l LOGIN agent alice t shop=Tmall") == badShop)
        #expect(failure("l LOGIN agent alice t shop=tmall.cn") == badShop)
        #expect(failure("l LOGIN agent alice t shop=" + String(repeating: "a", count: 65)) == badShop)
        #expect(failure("l LOGIN agent alice t shop=" + String(repeating: "a", count: 64)) == nil)
        #expect(failure("l LOGIN agent alice t store=tmall") == ProtocolError(.badArgs, usage))
        #expect(failure("l LOGIN agent alice t shop=a shop=b") == ProtocolError(.badArgs, "shop= given twice"))
        // The token is taken as sent, `=` and all: only a fourth word is read as `shop=`.
        #expect(try request("l LOGIN customer b shop=x") == .login(role: .customer, id: "b", token: "shop=x"))
    }

    @Test func everyVerb() throws {
        #expect(try request("a1 LOGIN agent alice s3cret") == .login(role: .agent, id: "alice", token: "s3cret"))
        #expect(try request("a2 login Customer buyer:42 tok") == .login(role: .customer, id: "buyer:42", token: "tok"))
        #expect(try request("a3 LOGIN supervisor lead t") == .login(role: .supervisor, id: "lead", token: "t"))
        #expect(
            try request("a4 LOGIN agent alice s3cret shop=tmall_flagship-2")
                == .login(role: .agent, id: "alice", token: "s3cret", shop: "tmall_flagship-2"))
        #expect(try request("p PING") == .ping)
        #expect(try request("q QUIT") == .quit)
        #expect(
            try request("o OPEN presales :这件有M码吗") == .open(skill: "presales", priority: .normal, text: "这件有M码吗")
        )
        #expect(try request("o OPEN refund priority=vip :hi") == .open(skill: "refund", priority: .vip, text: "hi"))
        #expect(try request("s SEND 12 :hello") == .send(conversation: 12, text: "hello"))
        #expect(try request("s SEND 12 auto=1 :亲,在的") == .send(conversation: 12, text: "亲,在的", automatic: true))
        #expect(failure("s SEND 12 auto=yes :hi") == ProtocolError(.badArgs, "auto must be 1 (a canned reply)"))
        #expect(try request("h HOLD 12 :等仓库回复") == .hold(conversation: 12, reason: "等仓库回复"))
        #expect(try request("c CLOSE 12") == .close(conversation: 12))
        #expect(try request("pr PRESENCE away") == .presence(.away))
        #expect(try request("h HISTORY 7") == .history(conversation: 7))
    }

    @Test func textEscapesAndColonsInsideText() throws {
        #expect(
            try request(#"s SEND 1 :line one\nline two \\ back"#)
                == .send(conversation: 1, text: "line one\nline two \\ back"))
        #expect(try request("s SEND 1 :time is 10:30 :) ok") == .send(conversation: 1, text: "time is 10:30 :) ok"))
        #expect(failure(#"s SEND 1 :C:\path"#) == ProtocolError(.badArgs, #"unknown escape \p in text (use \n or \\)"#))
        #expect(failure(#"s SEND 1 :ends with \"#)?.code == .badArgs)
    }

    @Test func aCRNextToAnEscapedNewlineCannotForgeALine() throws {
        // "\r" + "\n" is one Character; escaping must still see the newline in it.
        let rendered = ServerLine.event("MSG", [("conv", "1")], text: "x\r\n* ASSIGNED conv=99 :forged")
        #expect(!rendered.contains("\n"))
        #expect(!rendered.contains("\r"))
        #expect(rendered == #"* MSG conv=1 :x\r\n* ASSIGNED conv=99 :forged"#)
        // And a raw CR inside a client line is refused outright.
        #expect(failure("s SEND 1 :x\r\\n* ASSIGNED conv=99 :forged")?.code == .badArgs)
        #expect(failure("s\rPING")?.code == .badArgs)
    }

    @Test func escapesAreReadScalarByScalar() throws {
        // A backslash followed by a combining acute accent is one Character but an unknown escape.
        #expect(failure("s SEND 1 :a\\\u{0301}b")?.code == .badArgs)
        #expect(try request("s SEND 1 :e\u{0301}\\n") == .send(conversation: 1, text: "e\u{0301}\n"))
    }

    @Test func tokensMayContainEqualsSigns() throws {
        #expect(try request("l LOGIN customer b2 c2VjcmV0==") == .login(role: .customer, id: "b2", token: "c2VjcmV0=="))
        #expect(failure("l LOGIN customer b2")?.code == .badArgs)
        #expect(failure("l LOGIN customer b2 t extra")?.code == .badArgs)
    }

    @Test func conversationIdsAndOptionsAreStrict() throws {
        #expect(failure("s SEND +1 :x")?.code == .badArgs)
        #expect(failure("s SEND 0001 :x")?.code == .badArgs)
        #expect(failure("s SEND 1e3 :x")?.code == .badArgs)
        #expect(failure("s SEND 99999999999999999999 :x")?.code == .badArgs)
        #expect(
            failure("o OPEN presales priority=vip priority=normal :x")
                == ProtocolError(.badArgs, "priority= given twice"))
        #expect(try request("o OPEN presales priority=VIP :x") == .open(skill: "presales", priority: .vip, text: "x"))
    }

    @Test func escapingRoundTrips() throws {
        let original = "a\\b\nc\\n"
        let line = "t SEND 3 :" + ServerLine.escape(original)
        #expect(try request(line) == .send(conversation: 3, text: original))
    }

    @Test func badArguments() {
        #expect(failure("a LOGIN agent alice")?.code == .badArgs)
        #expect(failure("a LOGIN robot alice t")?.code == .badArgs)
        #expect(failure("a LOGIN agent al ice t")?.code == .badArgs)
        #expect(failure("a LOGIN agent \(String(repeating: "x", count: 65)) t")?.code == .badArgs)
        #expect(failure("o OPEN presales")?.code == .badArgs)
        #expect(failure("o OPEN presales :")?.code == .badArgs)
        #expect(failure("o OPEN presales priority=urgent :x")?.code == .badArgs)
        #expect(failure("o OPEN presales colour=red :x")?.code == .badArgs)
        #expect(failure("s SEND abc :x")?.code == .badArgs)
        #expect(failure("s SEND 0 :x")?.code == .badArgs)
        #expect(failure("s SEND -4 :x")?.code == .badArgs)
        #expect(failure("c CLOSE")?.code == .badArgs)
        #expect(failure("c CLOSE 1 :why")?.code == .badArgs)
        #expect(failure("p PRESENCE sleeping")?.code == .badArgs)
        #expect(failure("p PING extra")?.code == .badArgs)
    }

    @Test func unknownVerbIsItsOwnError() {
        #expect(failure("x DANCE")?.code == .unknownVerb)
    }

    @Test func garbage() {
        #expect(failure("")?.code == .badArgs)
        #expect(failure("   ")?.code == .badArgs)
        #expect(failure("onlytag")?.code == .badArgs)
        #expect(failure("bad/tag PING")?.code == .badArgs)
        #expect(failure("\(String(repeating: "t", count: 33)) PING")?.code == .badArgs)
        #expect(failure(":::: :::")?.code == .badArgs)
        #expect(failure("\u{0}\u{1}\u{2}")?.code == .badArgs)
    }

    @Test func invalidUTF8IsBadEncoding() {
        var buffer = ByteBuffer(string: "t1 SEND 1 :")
        buffer.writeBytes([0xFF, 0xFE, 0xC3])
        guard case .failure(let error) = ClientLine.parse(buffer) else {
            Issue.record("invalid UTF-8 accepted")
            return
        }
        #expect(error.code == .badEncoding)
        #expect(ClientLine.replyTag(for: buffer) == "t1")
    }

    @Test func replyTagFallsBackToStarWhenTheTagIsUnreadable() {
        #expect(ClientLine.replyTag(for: ByteBuffer(string: "ok-tag.1 WHATEVER")) == "ok-tag.1")
        #expect(ClientLine.replyTag(for: ByteBuffer(bytes: [0xFF, 0x20, 0x41])) == "*")
        #expect(ClientLine.replyTag(for: ByteBuffer(string: "")) == "*")
    }

    @Test func onlyLoginPingAndQuitComeBeforeLogin() throws {
        #expect(try request("a PING").allowedBeforeLogin)
        #expect(try request("a QUIT").allowedBeforeLogin)
        #expect(try request("a LOGIN agent x y").allowedBeforeLogin)
        #expect(try request("a CLOSE 1").allowedBeforeLogin == false)
    }
}

@Suite("Rendering server lines")
struct ServerLineTests {
    @Test func completionsAndEvents() {
        #expect(ServerLine.ok("a1", [("role", "agent"), ("id", "alice")]) == "a1 OK role=agent id=alice")
        #expect(ServerLine.ok("p") == "p OK")
        #expect(
            ServerLine.error("x", ProtocolError(.notFound, "no such conversation"))
                == "x ERR not-found :no such conversation"
        )
        #expect(
            ServerLine.event("MSG", [("conv", "3"), ("from", "agent")], text: "亲\n在的")
                == #"* MSG conv=3 from=agent :亲\n在的"#)
        #expect(ServerLine.event("BYE") == "* BYE")
        #expect(ServerLine.event("X", [("k", "a b")]) == "* X k=a_b")
    }
}

/// Every line is rendered once, from a typed value: the gateway and watched forms of an event come from the event.
@Suite struct OutboundLineTests {
    @Test func anEventInEachOfItsForms() {
        let message = Event.message(ConversationID(7), from: .agent, text: "亲\n在的")
        #expect(OutboundLine.event(message).rendered == #"* MSG conv=7 from=agent :亲\n在的"#)
        #expect(
            OutboundLine.event(message, .forGateway("tmall:b@1")).rendered
                == #"* MSG conv=7 from=agent customer=tmall:b@1 :亲\n在的"#)
        #expect(
            OutboundLine.event(message, .watched(.customer("b1"))).rendered
                == #"* WATCHED to=customer:b1 event=MSG conv=7 from=agent :亲\n在的"#)
        let queued = Event.queued(ConversationID(3), position: 2, etaSeconds: 40, offline: true)
        #expect(
            OutboundLine.event(queued, .forGateway("b9")).rendered
                == "* QUEUED conv=3 position=2 eta_s=40 offline=1 customer=b9")
        #expect(
            OutboundLine.event(.presence(.away, reason: .unresponsive), .watched(.agent("alice"))).rendered
                == "* WATCHED to=agent:alice event=PRESENCE away reason=unresponsive")
    }

    @Test func listingsOfQueueAgentsAndExplain() {
        let waiting = WaitingEntry(
            conversation: ConversationID(2), position: 1, skill: "presales", priority: .vip, customer: "c 2",
            waited: Milliseconds(1500), requiredLevel: 3, store: "jd", language: "en", reservedFor: "amy", rank: 4)
        #expect(
            OutboundLine.waiting(waiting).rendered
                == "* WAITING conv=2 position=1 skill=presales priority=vip customer=c_2 waited_ms=1500 required_level=3"
                + " store=jd lang=en reserved=amy rank=4")
        let plain = WaitingEntry(
            conversation: ConversationID(3), position: 2, skill: "refund", priority: .normal, customer: "c3",
            waited: Milliseconds(0), requiredLevel: 1)
        #expect(
            OutboundLine.waiting(plain).rendered
                == "* WAITING conv=3 position=2 skill=refund priority=normal customer=c3 waited_ms=0 required_level=1")
        let agent = AgentEntry(
            agent: "amy", presence: .away, connected: true, held: 2, wrapUps: 1, maxChats: 5,
            skills: [SkillLevel(skill: "presales", level: 3), SkillLevel(skill: "refund", level: 1)],
            lastAssignedAt: Instant(unixMilliseconds: 1_795_490_663_428))
        #expect(
            OutboundLine.agent(agent).rendered
                == "* AGENT agent=amy presence=away connected=1 held=2 wrap_up=1 max=5 skills=presales:3,refund:1"
                + " last_assigned=1795490663428")
        var idle = agent
        (idle.connected, idle.skills, idle.lastAssignedAt) = (false, [], nil)
        #expect(
            OutboundLine.agent(idle).rendered
                == "* AGENT agent=amy presence=away connected=0 held=2 wrap_up=1 max=5 skills= last_assigned=never")
        #expect(OutboundLine.listed(tag: "q", count: 2, more: false).rendered == "q OK count=2 more=0")
        #expect(OutboundLine.listed(tag: "a", count: 0).rendered == "a OK count=0")
        let decision = Decision(
            conversation: ConversationID(9), at: Instant(unixMilliseconds: 77), agent: "amy",
            rule: .higherProficiency,
            candidates: [
                Candidate(agent: "amy", verdict: .chosen), Candidate(agent: "ben", verdict: .lowerLevel(2)),
                Candidate(agent: "cat", verdict: .recorded(code: "", text: "at capacity (5/5)")),
            ],
            others: [
                OtherAgents(skill: "presales", standing: .full, count: 30),
                OtherAgents(skill: "presales", standing: .rankedLower, count: 6),
            ])
        #expect(
            (OutboundLine.explaining(decision) + [OutboundLine.explained(tag: "e", decision)]).map(\.rendered) == [
                "* EXPLAIN conv=9 agent=amy at=77 :equal load: higher proficiency",
                "* CANDIDATE conv=9 agent=amy verdict=chosen :chosen",
                "* CANDIDATE conv=9 agent=ben verdict=lower-level :same load, lower level 2",
                "* CANDIDATE conv=9 agent=cat :at capacity (5/5)",
                "* OTHERS conv=9 skill=presales verdict=full count=30 :full",
                "* OTHERS conv=9 skill=presales verdict=ranked-lower count=6 :free, ranked after the agents examined",
                "e OK count=3 others=36",
            ])
    }

    @Test func completionsHistoryAndFarewells() {
        #expect(OutboundLine.sent(tag: "s1", seq: 12).rendered == "s1 OK seq=12")
        #expect(OutboundLine.ok(tag: "q", [Field("count", "2"), Field("more", "1")]).rendered == "q OK count=2 more=1")
        #expect(
            OutboundLine.error(tag: "x", ProtocolError(.notFound, "no such conversation")).rendered
                == "x ERR not-found :no such conversation")
        let record = MessageRecord(
            conversation: ConversationID(1), seq: 2, sender: .agent, author: "alice",
            at: Instant(unixMilliseconds: 1_795_490_663_428), text: "a\\b", automatic: true)
        #expect(
            OutboundLine.history(record).rendered == #"* HISTORY conv=1 seq=2 from=agent at=1795490663428 auto=1 :a\\b"#)
        #expect(OutboundLine.bye(reason: .idle).rendered == "* BYE reason=idle")
        #expect(OutboundLine.bye(reason: nil).rendered == "* BYE")
        #expect(
            OutboundLine.conversation(ConversationID(4), state: .assigned, agent: "bob", customer: "b2").rendered
                == "* CONV conv=4 state=assigned agent=bob customer=b2")
    }

    /// Lines wait in the commit gate and in sessions' outputs by the thousand and are moved about by value: the
    /// large, rare payloads are boxed, so that a `MSG` costs a small copy, not the size of an `ASSIGNED`.
    @Test func aLineIsSmallEnoughToMoveCheaply() {
        #expect(MemoryLayout<Event>.size <= 40, "Event is \(MemoryLayout<Event>.size) bytes")
        #expect(MemoryLayout<OutboundLine>.size <= 64, "OutboundLine is \(MemoryLayout<OutboundLine>.size) bytes")
    }

    /// Byte-wise escaping: no text can put a raw line break in a line, whatever Swift thinks a character is.
    @Test func numbersAndEscapesAreWrittenStraightIntoBytes() {
        var buffer = ByteBufferAllocator().buffer(capacity: 16)
        buffer.writeDecimal(-1_234_567_890_123)
        buffer.writeDecimal(0)
        buffer.writeDecimal(Int64.max)
        #expect(String(buffer: buffer) == "-1234567890123" + "0" + "\(Int64.max)")
        #expect(ServerLine.escape("a\r\nb\\") == #"a\r\nb\\"#)
    }
}

@Suite struct UTF8ValidationTests {
    /// The protocol's own validator agrees with the standard library's on every kind of sequence, well-formed or not.
    @Test func agreesWithTheStandardLibrary() {
        var samples: [[UInt8]] = [
            [], Array("ASCII only, longer than eight bytes".utf8), Array("亲,在的 🙏 café".utf8),
            [0xC0, 0x80], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xF0, 0x8F, 0xBF, 0xBF],
            [0xE4, 0xBD], [0x80], [0xFF], [0xC2], Array("abcdefgh".utf8) + [0xE4, 0xBD, 0xA0] + Array("ijklmnop".utf8),
        ]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let count = Int.random(in: 0...24, using: &generator)
            // Mostly bytes that start or continue multi-byte characters, so the edges are hit often.
            samples.append(
                (0..<count).map { _ in
                    Bool.random(using: &generator)
                        ? UInt8.random(in: 0x80...0xFF, using: &generator)
                        : [0x41, 0xC2, 0xE0, 0xED, 0xF0, 0xF4, 0xA0, 0x8F, 0xBF].randomElement(using: &generator)!
                })
        }
        for sample in samples {
            let expected = String(validating: sample, as: UTF8.self)
            let actual = sample.withUnsafeBufferPointer { UTF8Validation.string($0) }
            #expect(actual == expected, "\(sample)")
        }
    }
}
