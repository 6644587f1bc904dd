import Foundation
import KefuAuth
import KefuConfig
import KefuCore
@testable import KefuServer
import KefuSystemd
import KefuTestSupport
import Testing

/// Who may log in (issue #14): buyers' signed tokens, the shared secret only where it is on, and the throttle on
/// failed logins per address.
@Suite struct SignedBuyerTokenTests {
    let key = Array(repeating: UInt8(ascii: "k"), count: 40)

    /// The README's recipe in another language gives the same token: Python's hmac, computed once.
    @Test func theTokenIsTheDocumentedHMAC() {
        let token = BuyerLoginToken.sign(shop: "default", id: "buyer-7", expiry: 1_900_000_000, key: key)
        #expect(token == "v1.1900000000.2c94dc2f74c69d88701f11846bc26d75577b096be850a45a1cc08d5a629cea93")
    }

    @Test func onlyThisBuyerInThisShopBeforeItsExpiryUnderAKeyInUse() {
        let other = Array(repeating: UInt8(ascii: "o"), count: 40)
        let token = BuyerLoginToken.sign(shop: "acme", id: "b-1", expiry: 2_000, key: key)
        #expect(BuyerLoginToken.verify(token, shop: "acme", id: "b-1", nowSeconds: 1_999, keys: [key]))
        #expect(!BuyerLoginToken.verify(token, shop: "acme", id: "b-1", nowSeconds: 2_000, keys: [key]), "expired")
        #expect(!BuyerLoginToken.verify(token, shop: "acme", id: "b-2", nowSeconds: 1_000, keys: [key]), "another id")
        #expect(!BuyerLoginToken.verify(token, shop: "default", id: "b-1", nowSeconds: 1_000, keys: [key]))
        #expect(!BuyerLoginToken.verify(token, shop: "acme", id: "b-1", nowSeconds: 1_000, keys: [other]))
        // A rotation: the old key still verifies while it is listed beside the new one.
        #expect(BuyerLoginToken.verify(token, shop: "acme", id: "b-1", nowSeconds: 1_000, keys: [other, key]))
        let longer = token.replacingOccurrences(of: "v1.2000.", with: "v1.20000.")
        #expect(!BuyerLoginToken.verify(longer, shop: "acme", id: "b-1", nowSeconds: 1_000, keys: [key]))
        for malformed in ["v1.2000", "v1..", "v2.2000.00", "v1.-5.\(String(repeating: "0", count: 64))",
                          "v1.2000.\(String(repeating: "g", count: 64))", "v1.2000.abc"] {
            #expect(!BuyerLoginToken.verify(malformed, shop: "acme", id: "b-1", nowSeconds: 1_000, keys: [key]))
        }
    }

    @Test func keysAreNeverPrinted() {
        let keys = SigningKeys([key, key])
        #expect("\(keys)" == "<2 signing keys>")
        #expect(String(reflecting: keys) == "<2 signing keys>")
    }

    @Test func aKeyFileOfShortKeysOrNoneIsAConfigErrorNamingItsLine() throws {
        let directory = try TemporaryDirectory(prefix: "kefu-keys")
        let file = directory.path + "/keys"
        try "# rotated in 2026-12\n\nshort\n".write(toFile: file, atomically: true, encoding: .utf8)
        let toml = "[customers]\nsigning_key_file = \"\(file)\"\n"
        #expect(throws: ConfigError.self) { try KefuConfiguration.parse(toml, file: "k.toml") }
        do {
            _ = try KefuConfiguration.parse(toml, file: "k.toml")
        } catch {
            #expect(
                error.description
                    == "k.toml:2: customers.signing_key_file: \(file) line 3: a key must be at least 32 characters "
                    + "(openssl rand -hex 32)")
        }
        try "\(String(repeating: "a", count: 64))\n".write(toFile: file, atomically: true, encoding: .utf8)
        let customers = try KefuConfiguration.parse(toml, file: "k.toml").customers
        #expect(customers.tokenSHA256 == nil, "without token_sha256 the shared secret is off")
        #expect(customers.signingKeys.keys.count == 1)
        #expect(throws: ConfigError.self) { try KefuConfiguration.parse("[customers]\n", file: "k.toml") }
    }
}

@Suite struct LoginThrottleTests {
    let t0 = Instant(unixMilliseconds: 1_000_000)
    func at(_ seconds: Double) -> Instant { t0 + Milliseconds(Int64(seconds * 1000)) }

    @Test func fiveFailuresInAMinuteBlockThatLoginFromThatAddressWithABackoffThatDoublesToFifteenMinutes() {
        var throttle = LoginThrottle()
        let (office, home, alice) = ("10.0.0.1", "10.0.0.2", "default/agent/alice")
        for second in 0..<4 { #expect(throttle.failed(address: office, login: alice, at: at(Double(second))) == nil) }
        #expect(throttle.blocked(address: office, login: alice, at: at(4)) == nil)
        #expect(throttle.failed(address: office, login: alice, at: at(4)) == .login(until: at(64)))
        #expect(throttle.blocked(address: office, login: alice, at: at(63.9)) == .login(until: at(64)))
        #expect(throttle.blocked(address: office, login: alice, at: at(64)) == nil, "over after the backoff")
        #expect(throttle.blocked(address: home, login: alice, at: at(10)) == nil, "another address is not locked out")
        #expect(throttle.blocked(address: office, login: "default/agent/bob", at: at(10)) == nil, "nor another id")
        // Each further block lasts twice as long, up to 15 minutes.
        var start = 64.0
        for expected in [120.0, 240, 480, 900, 900] {
            for i in 0..<5 { _ = throttle.failed(address: office, login: alice, at: at(start + Double(i))) }
            #expect(throttle.blocked(address: office, login: alice, at: at(start + 4)) == .login(until: at(start + 4 + expected)))
            start += 4 + expected
        }
        // A success resets: the next block is a minute again.
        throttle.succeeded(address: office, login: alice)
        for i in 0..<5 { _ = throttle.failed(address: office, login: alice, at: at(start + Double(i))) }
        #expect(throttle.blocked(address: office, login: alice, at: at(start + 4)) == .login(until: at(start + 64)))
    }

    @Test func failuresSpreadOverMoreThanAMinuteDoNotBlock() {
        var throttle = LoginThrottle()
        for i in 0..<20 {
            #expect(throttle.failed(address: "10.0.0.1", login: "x", at: at(Double(i) * 15)) == nil)
        }
    }

    @Test func fiftyFailuresFromOneAddressAcrossIdsBlockTheAddress() {
        var throttle = LoginThrottle()
        for i in 0..<49 {
            #expect(throttle.failed(address: "10.0.0.9", login: "default/agent/guess-\(i)", at: at(Double(i) / 10)) == nil)
        }
        #expect(throttle.failed(address: "10.0.0.9", login: "default/agent/guess-49", at: at(5)) == .address(until: at(65)))
        #expect(throttle.blocked(address: "10.0.0.9", login: "default/agent/alice", at: at(6)) == .address(until: at(65)))
        #expect(throttle.blocked(address: "10.0.0.8", login: "default/agent/alice", at: at(6)) == nil)
    }

    @Test func memoryStaysBoundedUnderAFloodOfAddressesAndIds() {
        var rules = LoginThrottle.Rules()
        rules.maxEntries = 1_000
        var throttle = LoginThrottle(rules: rules)
        for i in 0..<20_000 {
            _ = throttle.failed(address: "10.\(i / 256 % 256).\(i % 256).1", login: "id-\(i)", at: at(Double(i) / 100))
        }
        #expect(throttle.entryCount <= rules.maxEntries + 2)
    }

    @Test func beyondTwentyASecondFailuresAreSummarisedNotLost() {
        var records = AuthFailureRecords(perSecond: 20)
        var each = 0
        for i in 0..<25 {
            let failure = AuthFailure(
                address: i < 22 ? "10.0.0.1" : "10.0.0.2", role: "agent", id: "a", shop: "default", throttled: false,
                at: at(0.01 * Double(i)))
            if records.admit(failure) { each += 1 }
        }
        #expect(each == 20)
        let summary = records.flush(at: at(1))
        #expect(summary?.count == 5)
        #expect(summary?.addresses.map(\.address) == ["10.0.0.2", "10.0.0.1"])
        #expect(summary?.addresses.map(\.count) == [3, 2])
        #expect(records.flush(at: at(2)) == nil)
    }

    @Test func theJournalRecordEndsWithTheAddressForFail2ban() throws {
        let record = JournaldRecorder.journalRecord(
            for: AuthFailure(address: "192.0.2.7", role: "agent", id: "alice", shop: "default", throttled: false, at: t0))
        #expect(record.message == "login failed (unknown id or wrong token) for agent alice from 192.0.2.7")
        #expect(record.messageID == SystemdMessageID.authFailure)
        let fields = Dictionary(record.fields.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        #expect(fields["KEFU_EVENT"] == "auth_failure")
        #expect(fields["KEFU_ADDRESS"] == "192.0.2.7")
        #expect(fields["KEFU_ROLE"] == "agent")
        #expect(fields["KEFU_ID"] == "alice")
        #expect(fields["KEFU_THROTTLED"] == "0")
        // The fail2ban filter shipped in deploy/ matches it.
        let filter = (try? String(contentsOf: packageRoot.appendingPathComponent("deploy/fail2ban/kefud.conf"), encoding: .utf8)) ?? ""
        #expect(filter.contains("journalmatch = _SYSTEMD_UNIT=kefud.service KEFU_EVENT=auth_failure"))
        // Its failregex, with fail2ban's <HOST> as a capture, finds the address in the message (throttled too).
        let line = filter.split(separator: "\n").first { $0.hasPrefix("failregex = ") }
        let pattern = try #require(line).dropFirst("failregex = ".count)
            .replacingOccurrences(of: "<HOST>", with: "(?<host>[0-9a-fA-F.:]+)")
        let regex = try NSRegularExpression(pattern: pattern)
        let throttled = JournaldRecorder.journalRecord(
            for: AuthFailure(address: "2001:db8::7", role: "customer", id: "b-1", shop: "acme", throttled: true, at: t0))
        for (message, address) in [(record.message, "192.0.2.7"), (throttled.message, "2001:db8::7")] {
            let range = NSRange(message.startIndex..., in: message)
            let match = try #require(regex.firstMatch(in: message, range: range), "\(message)")
            #expect((message as NSString).substring(with: match.range(withName: "host")) == address)
        }
    }
}

/// Over TCP, with clients on several loopback addresses (127.0.0.0/8).
@Suite(.serialized) struct LoginSafetyEndToEndTests {
    static let keys = [String(repeating: "n", count: 64), String(repeating: "o", count: 64)]

    func daemon(keys: [String], sharedSecret: Bool, directory: TemporaryDirectory) async throws -> (TestDaemon, String) {
        let file = directory.path + "/buyer-keys"
        try (keys.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        var toml = testConfiguration()
        let shared = "[customers]\ntoken_sha256 = \"\(Secrets.gateway.1)\"\n"
        let signed = "[customers]\n" + (sharedSecret ? "token_sha256 = \"\(Secrets.gateway.1)\"\n" : "")
            + "signing_key_file = \"\(file)\"\n"
        toml = toml.replacingOccurrences(of: shared, with: signed)
        return (try await TestDaemon.start(toml), toml)
    }

    @Test func aSignedBuyerLogsInDirectlyAndNothingElseDoes() async throws {
        let directory = try TemporaryDirectory(prefix: "kefu-signed")
        let (daemon, toml) = try await daemon(keys: Self.keys, sharedSecret: false, directory: directory)
        let now = Int64(Date().timeIntervalSince1970)
        let key = Array(Self.keys[0].utf8)
        // What `kefuctl sign-buyer` prints works.
        let printed = try await runKefuctl([
            "sign-buyer", "buyer-9", "--ttl", "10m", "--key-file", directory.path + "/buyer-keys",
        ])
        let token = printed.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.hasPrefix("v1."))
        let expiry = Int64(token.split(separator: ".")[1]) ?? 0
        #expect(abs(expiry - (now + 600)) < 30)
        let buyer = try await daemon.connect()
        #expect(try await buyer.completion("c1 LOGIN customer buyer-9 \(token)") == "c1 OK role=customer id=buyer-9")
        #expect(try await buyer.completion("c2 OPEN presales :在吗").hasPrefix("c2 OK conv="))

        var refused: [(String, String)] = [
            ("expired", BuyerLoginToken.sign(shop: "default", id: "buyer-9", expiry: now - 1, key: key)),
            ("another buyer's", BuyerLoginToken.sign(shop: "default", id: "buyer-8", expiry: now + 600, key: key)),
            ("another shop's", BuyerLoginToken.sign(shop: "acme", id: "buyer-9", expiry: now + 600, key: key)),
            ("an unknown key's", BuyerLoginToken.sign(
                shop: "default", id: "buyer-9", expiry: now + 600, key: Array(repeating: 1, count: 32))),
            ("the shared secret, turned off", Secrets.gateway.0),
        ]
        refused.append(("a token cut short", String(token.dropLast())))
        // Each from an address of its own: six failures for one login from one address would be throttled.
        for (index, (what, candidate)) in refused.enumerated() {
            let client = try await LineClient.connect(port: daemon.port, from: "127.0.1.\(index + 1)")
            #expect(try await client.completion("x LOGIN customer buyer-9 \(candidate)")
                == "x ERR auth-failed :unknown id or wrong token", "\(what)")
        }
        // Gateways keep their own secrets.
        #expect(try await daemon.gateway().completion("g PING") == "g OK")
        // A rotation: the second key's tokens work too; after a reload without the first, its tokens do not.
        let second = BuyerLoginToken.sign(shop: "default", id: "b-2", expiry: now + 600, key: Array(Self.keys[1].utf8))
        #expect(try await daemon.connect().completion("r1 LOGIN customer b-2 \(second)").hasPrefix("r1 OK"))
        try (Self.keys[1] + "\n").write(toFile: directory.path + "/buyer-keys", atomically: true, encoding: .utf8)
        daemon.daemon.reload(.success(try KefuConfiguration.parse(toml, file: "test.toml")))
        var old = "r2 ERR"
        for _ in 0..<100 {
            let fresh = BuyerLoginToken.sign(shop: "default", id: "b-3", expiry: now + 600, key: key)
            old = try await daemon.connect().completion("r2 LOGIN customer b-3 \(fresh)")
            if old.hasPrefix("r2 ERR") { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(old == "r2 ERR auth-failed :unknown id or wrong token", "the retired key still works")
        #expect(try await daemon.connect().completion("r3 LOGIN customer b-2 \(second)").hasPrefix("r3 OK"))
        try await daemon.stop()
    }

    /// Five wrong tokens for alice from one address: alice is refused from there at once, even with her right token,
    /// while she logs in from another address and bob from the same one; every failure is a record.
    @Test func throttlingPerLoginAndAddress() async throws {
        let daemon = try await TestDaemon.start(testConfiguration())
        let office = try await LineClient.connect(port: daemon.port, from: "127.0.0.2")
        for attempt in 1...5 {
            #expect(try await office.completion("w\(attempt) LOGIN agent alice wrong-\(attempt)")
                == "w\(attempt) ERR auth-failed :unknown id or wrong token")
        }
        let refused = try await office.completion("r LOGIN agent alice \(Secrets.alice.0)")
        #expect(refused.hasPrefix("r ERR auth-failed :too many failed logins from this address; try again in "))
        let elsewhere = try await LineClient.connect(port: daemon.port, from: "127.0.0.3")
        #expect(try await elsewhere.completion("a LOGIN agent alice \(Secrets.alice.0)").hasPrefix("a OK"))
        #expect(try await office.completion("b LOGIN agent bob \(Secrets.bob.0)").hasPrefix("b OK"), "NAT neighbours")

        let failures = daemon.breaches.authFailures
        #expect(failures.count == 6)
        #expect(failures.allSatisfy { $0.address == "127.0.0.2" && $0.role == "agent" && $0.id == "alice" })
        #expect(failures.map(\.throttled) == [false, false, false, false, false, true])
        let metrics = String(decoding: daemon.daemon.metrics.exposition(), as: UTF8.self)
        #expect(metrics.contains("kefud_auth_failures_total{role=\"agent\"} 6"), "\(metrics)")
        #expect(metrics.contains("kefud_logins_throttled_total{scope=\"login\"} 1"))
        try await daemon.stop()
    }

    /// Fifty failures across ids from one address close it to every login; a client elsewhere is served throughout
    /// a flood from there (refused logins cost no token check).
    @Test func anAddressGuessingManyIdsIsRefusedAndOthersAreServedThroughTheFlood() async throws {
        let daemon = try await TestDaemon.start(testConfiguration())
        let guesser = try await LineClient.connect(port: daemon.port, from: "127.0.0.4")
        for i in 0..<50 {
            _ = try await guesser.completion("g\(i) LOGIN agent guess-\(i) nope")
        }
        #expect(try await guesser.completion("c LOGIN agent carol \(Secrets.carol.0)")
            .hasPrefix("c ERR auth-failed :too many failed logins"))
        // The flood: 4 connections from that address pipelining 2,000 logins each.
        var flood: [LineClient] = []
        for _ in 0..<4 { flood.append(try await LineClient.connect(port: daemon.port, from: "127.0.0.4")) }
        let floods = flood.map { client in
            Task {
                for i in 0..<2_000 { try? await client.send("f\(i) LOGIN agent guess-\(i % 100) nope") }
                return (try? await client.expect("f1999 ERR", timeout: .seconds(60))) != nil
            }
        }
        let alice = try await LineClient.connect(port: daemon.port, from: "127.0.0.5")
        #expect(try await alice.completion("a1 LOGIN agent alice \(Secrets.alice.0)").hasPrefix("a1 OK"))
        for i in 0..<20 { #expect(try await alice.completion("p\(i) PING") == "p\(i) OK") }
        for task in floods { #expect(await task.value, "every flooded login was answered") }
        // Every failure accounted for in journald: records of its own or counted in a summary, which the owners'
        // once-a-second housekeeping (on the daemon's real clock) writes.
        var (recorded, summarised) = (0, 0)
        for _ in 0..<100 {
            recorded = daemon.breaches.authFailures.count
            summarised = daemon.breaches.authFailureSummaries.reduce(0) { $0 + $1.count }
            if recorded + summarised >= 51 + 8_000 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(recorded + summarised == 51 + 8_000, "\(recorded) + \(summarised)")
        #expect(daemon.breaches.authFailureSummaries.allSatisfy { $0.addresses.first?.address == "127.0.0.4" })
        try await daemon.stop()
    }
}

/// Runs the built kefuctl; its standard output.
func runKefuctl(_ arguments: [String]) async throws -> String {
    guard let kefuctl = findExecutable(named: "kefuctl") else { throw KefudProcess.NotBuilt() }
    let result = try await runCommand(kefuctl, arguments)
    guard result.status == 0 else {
        throw KefuctlFailed(description: "kefuctl \(arguments) failed: \(result.errorOutput)")
    }
    return result.output
}

struct KefuctlFailed: Error, CustomStringConvertible {
    var description: String
}
