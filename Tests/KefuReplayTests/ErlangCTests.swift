import Foundation
import KefuReplay
import Testing

/// Erlang C against values worked by hand and from the tables.
@Suite struct ErlangCTests {
    @Test func oneServerWaitsWithTheUtilisation() {
        // M/M/1: P(wait) = ρ, mean wait = ρ/(μ − λ).
        let queue = ErlangC(servers: 1, arrivalRate: 0.5, meanHandling: 1)
        #expect(abs(queue.probabilityOfWaiting - 0.5) < 1e-12)
        #expect(abs(queue.meanWait - 1.0) < 1e-12)
    }

    @Test func twoServersAtOneErlang() {
        // C(2, 1) = (1/2 · 2/1) / (1 + 1 + 1) = 1/3; Wq = C / (2μ − λ) = 1/3.
        let queue = ErlangC(servers: 2, arrivalRate: 1, meanHandling: 1)
        #expect(abs(queue.probabilityOfWaiting - 1.0 / 3.0) < 1e-12)
        #expect(abs(queue.meanWait - 1.0 / 3.0) < 1e-12)
        #expect(abs(queue.serviceLevel(within: 0.5) - (1 - exp(-0.5) / 3)) < 1e-12)
    }

    @Test func theTablesTenServersAtEightErlangs() {
        // Erlang C tables: N = 10, A = 8 → 0.4092; with a 180 s handling, mean wait 0.4092 · 180 / 2 = 36.8 s.
        let queue = ErlangC(servers: 10, arrivalRate: 8.0 / 180, meanHandling: 180)
        #expect(abs(queue.probabilityOfWaiting - 0.40918) < 0.00005)
        #expect(abs(queue.meanWait - 36.83) < 0.01)
    }

    @Test func largeFloorsStayFinite() {
        // A^N / N! overflows a Double from N = 171 on; the recurrence does not.
        let queue = ErlangC(servers: 600, arrivalRate: 580.0 / 300, meanHandling: 300)
        #expect(queue.probabilityOfWaiting > 0 && queue.probabilityOfWaiting < 1)
        #expect(ErlangC(servers: 5, arrivalRate: 1, meanHandling: 6).probabilityOfWaiting == 1)  // overloaded
    }

    @Test func fewestServersReachingAServiceLevel() {
        let found = ErlangC.servers(reaching: 0.8, within: 20, arrivalRate: 8.0 / 180, meanHandling: 180)
        let n = try! #require(found)
        #expect(ErlangC(servers: n, arrivalRate: 8.0 / 180, meanHandling: 180).serviceLevel(within: 20) >= 0.8)
        #expect(ErlangC(servers: n - 1, arrivalRate: 8.0 / 180, meanHandling: 180).serviceLevel(within: 20) < 0.8)
        #expect(n == 11)
    }
}
