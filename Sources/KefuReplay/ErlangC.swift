import Foundation

/// Erlang C: the M/M/N queue (Poisson arrivals at rate λ, exponential handling with mean 1/μ, N servers, first come
/// first served, nobody leaves). What workforce tools staff call centres with; a server is one agent answering one
/// customer, so for chats held in parallel it has to guess what a server is (see the README, "Staffing a sale day before it comes").
public struct ErlangC: Sendable, Equatable {
    public var servers: Int
    /// Arrivals per second.
    public var arrivalRate: Double
    /// Mean handling time, seconds.
    public var meanHandling: Double

    public init(servers: Int, arrivalRate: Double, meanHandling: Double) {
        self.servers = servers
        self.arrivalRate = arrivalRate
        self.meanHandling = meanHandling
    }

    /// The offered load A = λ/μ, in Erlangs.
    public var load: Double { arrivalRate * meanHandling }

    /// Whether the queue is stable (A < N): otherwise it grows without end and every customer waits.
    public var isStable: Bool { load < Double(servers) }

    /// The probability that an arrival waits. Through Erlang B's recurrence B(0) = 1, B(k) = A·B(k−1)/(k + A·B(k−1)),
    /// which never forms A^N or N! (both overflow long before a shop's N), then C = N·B / (N − A·(1 − B)).
    public var probabilityOfWaiting: Double {
        guard isStable else { return 1 }
        guard load > 0 else { return 0 }
        let a = load
        var blocking = 1.0
        if servers > 0 {
            for k in 1...servers { blocking = a * blocking / (Double(k) + a * blocking) }
        }
        let n = Double(servers)
        return n * blocking / (n - a * (1 - blocking))
    }

    /// The mean wait of all arrivals (those served at once count 0), seconds: C / (Nμ − λ).
    public var meanWait: Double {
        guard isStable else { return .infinity }
        return probabilityOfWaiting * meanHandling / (Double(servers) - load)
    }

    /// The share answered within `t` seconds (the service level): 1 − C·e^−(N−A)·t/h.
    public func serviceLevel(within t: Double) -> Double {
        guard isStable else { return 0 }
        return 1 - probabilityOfWaiting * exp(-(Double(servers) - load) * t / meanHandling)
    }

    /// The fewest servers whose service level within `t` seconds reaches `target` (at most `limit`; nil beyond).
    public static func servers(
        reaching target: Double, within t: Double, arrivalRate: Double, meanHandling: Double, limit: Int = 10_000
    ) -> Int? {
        guard arrivalRate > 0 else { return 0 }
        var n = max(1, Int((arrivalRate * meanHandling).rounded(.down)))
        while n <= limit {
            if ErlangC(servers: n, arrivalRate: arrivalRate, meanHandling: meanHandling).serviceLevel(within: t)
                >= target
            {
                return n
            }
            n += 1
        }
        return nil
    }
}
