import DequeModule
import KefuCore
import Synchronization

/// Failed logins, per address (issue #14): after `idFailures` failures within `window` for one login (shop, role and
/// id) from one address, that login from that address is refused at once (`auth-failed`, the token not even
/// checked) for a backoff that doubles at each block, from `firstBackoff` up to `maxBackoff`; an address with
/// `addressFailures` failures within the window across logins is refused the same way for every login. A success
/// clears that login's failures and backoff from that address (not the address's: someone else's success behind
/// the same NAT must not let a guesser go on).
///
/// So an office behind one NAT address is not locked out by one agent's typos (only that agent, from there, for a
/// minute), and nobody can lock a real agent out from another address. Pure: the caller passes the time in.
///
/// Bounded: an entry goes once it has been quiet for `maxBackoff` after its last block; beyond `maxEntries`, the
/// entries not blocked right now are dropped first (a flood of ids from many addresses cannot grow memory).
struct LoginThrottle {
    struct Rules: Sendable {
        var idFailures = 5
        var addressFailures = 50
        var window = Milliseconds(60_000)
        var firstBackoff = Milliseconds(60_000)
        var maxBackoff = Milliseconds(15 * 60_000)
        var maxEntries = 100_000
    }

    /// Which limit refused a login.
    enum Block: Equatable, Sendable {
        /// This login from this address, until then.
        case login(until: Instant)
        /// Every login from this address, until then.
        case address(until: Instant)

        var until: Instant {
            switch self {
            case .login(let until), .address(let until): until
            }
        }
    }

    private struct Entry {
        var failures = Deque<Instant>()
        var blockedUntil: Instant?
        /// Blocks so far: the next one lasts `firstBackoff × 2^strikes` (at most `maxBackoff`).
        var strikes = 0
        var lastSeen: Instant
    }

    let rules: Rules
    private var logins: [LoginKey: Entry] = [:]
    private var addresses: [String: Entry] = [:]
    private var operations = 0

    struct LoginKey: Hashable {
        var address: String
        var login: String
    }

    init(rules: Rules = Rules()) { self.rules = rules }

    var entryCount: Int { logins.count + addresses.count }

    /// Whether `login` from `address` is refused now, without looking at its token.
    func blocked(address: String, login: String, at now: Instant) -> Block? {
        if let until = addresses[address]?.blockedUntil, until > now { return .address(until: until) }
        if let until = logins[LoginKey(address: address, login: login)]?.blockedUntil, until > now {
            return .login(until: until)
        }
        return nil
    }

    /// Counts a failed login; returns the block it started, if any.
    mutating func failed(address: String, login: String, at now: Instant) -> Block? {
        housekeep(at: now)
        let key = LoginKey(address: address, login: login)
        var started: Block?
        if let until = Self.count(&logins[key, default: Entry(lastSeen: now)], limit: rules.idFailures, rules, now) {
            started = .login(until: until)
        }
        if let until = Self.count(
            &addresses[address, default: Entry(lastSeen: now)], limit: rules.addressFailures, rules, now)
        {
            started = .address(until: until)
        }
        return started
    }

    /// A login succeeded: its failures and backoff from this address are forgotten.
    mutating func succeeded(address: String, login: String) {
        logins[LoginKey(address: address, login: login)] = nil
    }

    /// Adds a failure at `now`; when the window then holds `limit` of them, starts the next block.
    private static func count(_ entry: inout Entry, limit: Int, _ rules: Rules, _ now: Instant) -> Instant? {
        entry.lastSeen = now
        while let first = entry.failures.first, now - first >= rules.window { entry.failures.removeFirst() }
        entry.failures.append(now)
        guard entry.failures.count >= limit else { return nil }
        let doubling = min(entry.strikes, 20)
        let backoff = min(rules.firstBackoff.value << doubling, rules.maxBackoff.value)
        entry.strikes += 1
        entry.failures.removeAll()
        let until = now + Milliseconds(backoff)
        entry.blockedUntil = until
        return until
    }

    /// Every so often, and whenever there are too many, drops the entries that have nothing left to say.
    private mutating func housekeep(at now: Instant) {
        operations += 1
        guard operations % 1024 == 0 || entryCount >= rules.maxEntries else { return }
        let quiet = rules.maxBackoff
        func stale(_ entry: Entry) -> Bool {
            let since = entry.blockedUntil.map { max($0, entry.lastSeen) } ?? entry.lastSeen
            return now - since >= quiet
        }
        logins = logins.filter { !stale($0.value) }
        addresses = addresses.filter { !stale($0.value) }
        if entryCount >= rules.maxEntries {
            // Still too many (a flood from many addresses): keep only what is blocked now.
            logins = logins.filter { ($0.value.blockedUntil ?? now) > now }
            addresses = addresses.filter { ($0.value.blockedUntil ?? now) > now }
        }
    }
}

/// The node's one ``LoginThrottle``, shared by every shop's owner: an address's failures count across shops.
/// Behind a lock because it is not routing state (no shop's decisions depend on it) and each use is a few
/// dictionary operations.
final class LoginGuard: Sendable {
    private let throttle: Mutex<LoginThrottle>
    private let records: Mutex<AuthFailureRecords>

    init(rules: LoginThrottle.Rules = LoginThrottle.Rules(), recordsPerSecond: Int = 20) {
        throttle = Mutex(LoginThrottle(rules: rules))
        records = Mutex(AuthFailureRecords(perSecond: recordsPerSecond))
    }

    func blocked(address: String, login: String, at now: Instant) -> LoginThrottle.Block? {
        throttle.withLock { $0.blocked(address: address, login: login, at: now) }
    }

    func failed(address: String, login: String, at now: Instant) -> LoginThrottle.Block? {
        throttle.withLock { $0.failed(address: address, login: login, at: now) }
    }

    func succeeded(address: String, login: String) {
        throttle.withLock { $0.succeeded(address: address, login: login) }
    }

    /// Whether this failure gets a journald record of its own (the first `perSecond` of a second do; the rest are
    /// counted into the next summary).
    func recordsEach(_ failure: AuthFailure) -> Bool {
        records.withLock { $0.admit(failure) }
    }

    /// The failures held back since the last call, as one summary (nil when none).
    func summary(at now: Instant) -> AuthFailureSummary? {
        records.withLock { $0.flush(at: now) }
    }
}

/// A refused login, for journald (`KEFU_EVENT=auth_failure`) and fail2ban.
public struct AuthFailure: Sendable, Equatable {
    public var address: String
    public var role: String
    public var id: String
    public var shop: String
    /// Refused by the throttle without checking the token.
    public var throttled: Bool
    public var at: Instant
}

/// Failures beyond the per-second budget, listed once a second: journald's rate limit never drops any.
public struct AuthFailureSummary: Sendable, Equatable {
    public var count: Int
    /// Each address with its number of failures, most first (at most 100 listed).
    public var addresses: [(address: String, count: Int)]
    public var first: Instant
    public var last: Instant

    public static func == (a: AuthFailureSummary, b: AuthFailureSummary) -> Bool {
        a.count == b.count && a.first == b.first && a.last == b.last
            && a.addresses.map(\.address) == b.addresses.map(\.address)
            && a.addresses.map(\.count) == b.addresses.map(\.count)
    }
}

/// The first `perSecond` failures of each wall-clock second are recorded one by one; the rest are held and
/// summarised (see ``BreachRateLimiter`` for the same rule applied to breaches).
struct AuthFailureRecords {
    let perSecond: Int
    private var second: Int64 = -1
    private var recordedThisSecond = 0
    private var held: [String: Int] = [:]
    private var heldCount = 0
    private var first: Instant?
    private var last: Instant?

    init(perSecond: Int) { self.perSecond = perSecond }

    mutating func admit(_ failure: AuthFailure) -> Bool {
        let now = failure.at.unixMilliseconds / 1000
        if now != second {
            second = now
            recordedThisSecond = 0
        }
        if recordedThisSecond < perSecond {
            recordedThisSecond += 1
            return true
        }
        // Bounded: at most this many addresses are told apart in one summary; the rest only count.
        if held[failure.address] != nil || held.count < 10_000 { held[failure.address, default: 0] += 1 }
        heldCount += 1
        first = first ?? failure.at
        last = failure.at
        return false
    }

    mutating func flush(at now: Instant) -> AuthFailureSummary? {
        guard heldCount > 0, let first, let last else { return nil }
        let addresses = held.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(100)
            .map { (address: $0.key, count: $0.value) }
        let summary = AuthFailureSummary(count: heldCount, addresses: addresses, first: first, last: last)
        held = [:]
        heldCount = 0
        self.first = nil
        self.last = nil
        return summary
    }
}
