import Testing

@testable import KefuServer

/// "Nothing is shown before it is committed", on its own.
@Suite struct CommitGateTests {
    @Test func anOutputWithNothingOutstandingLeavesAtOnce() {
        var gate = CommitGate<String>()
        #expect(gate.emit("PING reply") == "PING reply")
        #expect(gate.isClear)
    }

    @Test func outputsWaitForTheJobBeforeThemAndLeaveInOrder() {
        var gate = CommitGate<String>()
        let first = gate.issue()
        #expect(gate.emit("OK seq=2") == nil)
        #expect(gate.emit("* MSG") == nil)
        let second = gate.issue()
        #expect(gate.emit("OK seq=3") == nil)
        // Even a reply that needed no write waits behind what was issued before it.
        #expect(gate.emit("PING reply") == nil)
        #expect(gate.finish(first) == ["OK seq=2", "* MSG"])
        #expect(!gate.isClear)
        #expect(gate.finish(second) == ["OK seq=3", "PING reply"])
        #expect(gate.isClear)
        #expect(gate.emit("later") == "later")
    }

    @Test func jobsFinishingTogetherReleaseEverythingUpToTheLast() {
        var gate = CommitGate<Int>()
        _ = gate.issue()
        _ = gate.emit(1)
        let last = gate.issue()
        _ = gate.emit(2)
        #expect(gate.finish(last) == [1, 2])
    }

    @Test func aReadsAnswerTakesItsPlaceInTheOrder() {
        var gate = CommitGate<String>()
        let write = gate.issue()
        #expect(gate.emit("before") == nil)
        let read = gate.issueRead()
        #expect(gate.emit("after") == nil)
        // The write commits: what came before the read leaves; the rest waits for the read's answer.
        #expect(gate.finish(write) == ["before"])
        #expect(gate.answered(read, with: ["* HISTORY 1", "* HISTORY 2", "h OK count=2"])
            == ["* HISTORY 1", "* HISTORY 2", "h OK count=2", "after"])
        #expect(gate.isClear)
    }

    /// The store runs jobs in order: a read that came back means every job before it has finished too.
    @Test func aReadsAnswerReleasesEverythingBeforeIt() {
        var gate = CommitGate<String>()
        _ = gate.issue()
        _ = gate.emit("reply")
        let read = gate.issueRead()
        _ = gate.emit("later")
        let next = gate.issue()
        _ = gate.emit("after the next write")
        #expect(gate.answered(read, with: ["answer"]) == ["reply", "answer", "later"])
        #expect(gate.finish(next) == ["after the next write"])
        #expect(gate.isClear)
    }
}

@Suite struct KeptEventsTests {
    /// Events for a buyer who is away are kept in order up to a byte bound; beyond it the oldest go.
    @Test func aBuyersKeptEventsAreBoundedInBytesDroppingTheOldest() {
        var kept = KeptEvents(bytesPerBuyer: 1_000)
        for index in 1...20 {
            kept.keep(.message(.init(1), from: .agent, text: "m\(index)" + String(repeating: "x", count: 100)), for: "b")
        }
        kept.keep(.closed(.init(1), by: .agent), for: "other")
        let events = Array(kept.take(for: "b"))
        let texts = events.compactMap { event -> String? in
            if case .message(_, _, let text) = event { return String(text.prefix { $0 != "x" }) }
            return nil
        }
        #expect(texts == (16...20).map { "m\($0)" })
        #expect(events.reduce(0) { $0 + KeptEvents.size(of: $1) } <= 1_000)
        #expect(kept.take(for: "b").isEmpty)
        #expect(kept.take(for: "other").count == 1)
    }
}
