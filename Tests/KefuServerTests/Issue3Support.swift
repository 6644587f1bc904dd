import Foundation
import KefuTestSupport
import Testing

/// Configuration snippets and client helpers shared by the end-to-end tests of issue 3 (routing rules,
/// transfers, gateways, presence).
enum Team {
    /// A fourth agent: junior presales on the `jd` store, speaking English and Chinese.
    static let dave = ("dave-secret", "06f423eab45296e685075fa9901d2831da01634f706388d4e6db397fe4488611")

    static let daveTOML = """
        [[agent]]
        id = "dave"
        token_sha256 = "\(dave.1)"
        max_chats = 5
        skills = { presales = 1 }
        stores = ["jd"]
        languages = ["en", "zh"]
        """
}

extension LineClient {
    /// Every line still pending before a PING's completion: nothing else is on its way when this is empty,
    /// because a PING's `OK` comes after every line caused before it (ordering rule 5).
    func pending(timeout: Duration = .seconds(5)) async throws -> [String] {
        Array(try await command("pending PING", timeout: timeout).dropLast())
    }

    /// The data lines of a listing command (`QUEUE`, `NOTES`, ...) and its completion, skipping events that
    /// arrived before the first data line.
    func listing(_ line: String, data: String, timeout: Duration = .seconds(5)) async throws -> (
        lines: [String], completion: String
    ) {
        let all = try await command(line, timeout: timeout)
        return (all.dropLast().filter { $0.hasPrefix("* \(data) ") }, all.last ?? "")
    }
}

/// Seconds since an instant, for checks on time-driven events.
func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

/// The integer value of `key=` in a line, or -1.
func number(_ key: String, in line: String) -> Int {
    Int(field(key, in: line) ?? "") ?? -1
}

/// Nothing is pending on any of the clients (each one's unexpected lines are shown when not).
func expectNothingPending(
    _ clients: [LineClient], sourceLocation: SourceLocation = #_sourceLocation
) async throws {
    for client in clients {
        let lines = try await client.pending()
        #expect(lines == [], sourceLocation: sourceLocation)
    }
}
