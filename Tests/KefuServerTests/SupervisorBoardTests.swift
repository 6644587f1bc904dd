import Foundation
import KefuTestSupport
import Testing

@testable import KefuServer

/// `BOARD`: the supervisor board as protocol lines, answered whole and then pushed as it changes.
@Suite("The supervisor board (BOARD)")
struct SupervisorBoardTests {
    /// `* BOARD-<KIND> key=value ...` as a dictionary (with `kind`).
    static func fields(_ line: String) -> [String: String] {
        var fields: [String: String] = [:]
        let words = line.split(separator: " ")
        if words.count > 1 { fields["kind"] = String(words[1].dropFirst("BOARD-".count)) }
        for word in words.dropFirst(2) {
            let parts = word.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        return fields
    }

    @Test func theBoardIsAnsweredWholeThenOnlyWhatChangesIsPushed() async throws {
        let daemon = try await TestDaemon.start()
        let lead = try await daemon.supervisor()
        let alice = try await daemon.agent("alice", Secrets.alice)
        let board = try await lead.command("b BOARD")
        #expect(board.last == "b OK count=\(board.count - 1)")
        let lines = board.dropLast().map(Self.fields)
        let shop = try #require(lines.first { $0["kind"] == "SHOP" })
        #expect(shop["waiting"] == "0" && shop["online"] == "1" && shop["offline"] == "2")
        #expect(shop["seats"] == "5" && shop["seats_used"] == "0")
        #expect(shop["first_response_limit_ms"] == "120000" && shop["rate_today"] == "-")
        #expect(lines.filter { $0["kind"] == "AGENT" }.map { $0["agent"] } == ["alice", "bob", "carol"])
        #expect(lines.first { $0["agent"] == "alice" }?["state"] == "online")
        #expect(lines.first { $0["kind"] == "HOURS" }?["arrivals"]?.split(separator: ",").count == 24)
        #expect(
            lines.filter { $0["kind"] == "SKILL" }.compactMap { $0["skill"] }
                == ["complaint", "logistics", "presales", "refund", "returns"])

        // A buyer's chat: the lines it changes come within a tick or two, the others do not come again.
        let buyer = try await daemon.customer("buyer-1")
        #expect(try await buyer.completion("o OPEN presales :在吗?") == "o OK conv=1")
        try await alice.expect("* ASSIGNED conv=1")
        var pushed: [[String: String]] = []
        let deadline = ContinuousClock.now + .seconds(3)
        while ContinuousClock.now < deadline, !pushed.contains(where: { $0["kind"] == "HOURS" }) {
            pushed.append(Self.fields(try await lead.expect("* BOARD-", timeout: .seconds(3))))
        }
        let agent = try #require(pushed.last { $0["kind"] == "AGENT" && $0["agent"] == "alice" })
        #expect(agent["held"] == "1" && agent["unanswered"] == "1")
        #expect(pushed.last { $0["kind"] == "SHOP" }?["unanswered"] == "1")
        #expect(pushed.last { $0["skill"] == "presales" }?["active"] == "1")
        #expect(pushed.last { $0["kind"] == "HOURS" }?["arrivals"]?.split(separator: ",").compactMap { Int($0) }.reduce(0, +) == 1)
        #expect(!pushed.contains { $0["skill"] == "logistics" })  // unchanged: not sent again
        #expect(!pushed.contains { $0["agent"] == "bob" })

        // Behind the numbers: the conversations (an agent's, the unanswered ones, a skill's).
        let chats = try await lead.command("c CHATS agent=alice")
        #expect(chats.last == "c OK count=1")
        let chat = Self.fields(chats.first { $0.hasPrefix("* CHAT ") } ?? "")
        #expect(chat["conv"] == "1" && chat["state"] == "assigned" && chat["customer"] == "buyer-1")
        #expect(chat["unanswered_ms"] != "-")
        #expect(try await lead.command("u CHATS unanswered=1").last == "u OK count=1")
        #expect(try await lead.command("s CHATS skill=logistics").last == "s OK count=0")
        #expect(try await lead.completion("x CHATS unanswered=2").hasPrefix("x ERR bad-args"))
        #expect(try await alice.completion("c CHATS") == "c ERR forbidden :CHATS is for supervisors")

        // Only supervisors get the board.
        #expect(try await alice.completion("b BOARD") == "b ERR forbidden :BOARD is for supervisors")
        for client in [lead, alice, buyer] { await client.close() }
        try await daemon.stop()
    }
}
