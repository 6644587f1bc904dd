import Foundation
import KefuTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The state directory on a small tmpfs, filled while clients work and freed again (issue #14): kefud refuses what
/// must write with `ERR unavailable`, keeps answering reads and connections, says so in `STATUS=`, and recovers by
/// itself with nothing acknowledged lost.
@Suite(.serialized) struct FullDiskTests {
    @Test func aFullDiskRefusesWritesServesReadsAndRecoversWithNothingAcknowledgedLost() async throws {
        guard geteuid() == 0 else {
            Issue.record("mounting a tmpfs needs root: this test did not run (CI runs as root)")
            return
        }
        let directory = try TemporaryDirectory(prefix: "kefu-full-disk")
        let state = directory.path + "/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let mounted = try await runCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=6m", "tmpfs", state])
        try #require(mounted.status == 0, "mount: \(mounted.errorOutput)")
        defer { _ = try? runCommandBlocking("/bin/umount", ["-l", state]) }

        let notifier = RecordingNotifier()
        var daemon: TestDaemon? = try await TestDaemon.start(stateDirectory: state, notifier: notifier)
        let alice = try await daemon!.agent("alice", Secrets.alice)
        let lead = try await daemon!.supervisor()
        let buyer = try await daemon!.customer("buyer-1")
        #expect(try await buyer.completion("o OPEN presales :在吗") == "o OK conv=1")
        _ = try await alice.expect("* ASSIGNED conv=1 ")
        var acknowledged: [String] = []
        #expect(try await alice.completion("a0 SEND 1 :您好").hasPrefix("a0 OK seq="))
        acknowledged.append("您好")

        // Fill the file system to the last byte.
        let filler = state + "/filler"
        _ = try await runCommand("/bin/dd", ["if=/dev/zero", "of=\(filler)", "bs=64k"])
        // Messages now: some may still fit in pages SQLite has; then one fails to commit (its OK is held, not
        // refused: it was taken in) and every later one is refused at once.
        let text = String(repeating: "这件有M码吗?", count: 200)
        var held: String?
        var refused = false
        for i in 1...400 where !refused {
            try await buyer.send("m\(i) SEND 1 :\(i) \(text)")
            let answer = try? await buyer.expect("m\(i) ", timeout: .seconds(2))
            switch answer {
            case let line? where line.hasPrefix("m\(i) OK"): acknowledged.append("\(i) \(text)")
            case let line? where line.hasPrefix("m\(i) ERR unavailable"): refused = true
            case let line?: Issue.record("unexpected answer \(line)")
            case nil: held = held ?? "m\(i)"  // taken in, waiting for a commit that cannot happen yet
            }
        }
        print("full disk: \(acknowledged.count) acknowledged, held \(held ?? "none")")
        #expect(refused, "no command was refused with ERR unavailable")
        #expect(notifier.messages.contains { $0.contains("STORE UNAVAILABLE") }, "\(notifier.messages.suffix(3))")

        // Reads, listings, pings and new connections go on.
        #expect(try await alice.completion("r1 PING") == "r1 OK")
        let history = try await alice.command("r2 HISTORY 1")
        #expect(history.last?.hasPrefix("r2 OK count=") == true, "\(history.suffix(2))")
        #expect(history.contains { $0.hasSuffix(":您好") })
        #expect(try await lead.command("r3 AGENTS").last?.hasPrefix("r3 OK") == true)
        let late = try await daemon!.customer("buyer-2")
        #expect(try await late.completion("r4 OPEN presales :还在吗") .hasPrefix("r4 ERR unavailable"))
        #expect(try await alice.completion("r5 SEND 1 :稍等").hasPrefix("r5 ERR unavailable"))

        // Free the space: kefud recovers by itself; what was held is acknowledged, writes are taken again.
        try FileManager.default.removeItem(atPath: filler)
        if let held {
            let answer = try await buyer.expect("\(held) ", timeout: .seconds(20))
            #expect(answer.hasPrefix("\(held) OK seq="), "\(answer)")
            if let index = Int(held.dropFirst()) { acknowledged.append("\(index) \(text)") }
        }
        var resumed = false
        for attempt in 0..<100 where !resumed {
            let answer = try await alice.completion("w\(attempt) SEND 1 :好的,马上发货")
            if answer.hasPrefix("w\(attempt) OK") {
                resumed = true
                acknowledged.append("好的,马上发货")
            } else {
                #expect(answer.hasPrefix("w\(attempt) ERR unavailable"))
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        #expect(resumed, "writes were never taken again")
        #expect(!(notifier.messages.last { $0.hasPrefix("STATUS") } ?? "").contains("STORE UNAVAILABLE"))
        try await daemon!.stop()
        daemon = nil

        // A new kefud on the same state has every acknowledged message.
        let again = try await TestDaemon.start(stateDirectory: state)
        let reader = try await again.agent("alice", Secrets.alice)
        let stored = try await reader.command("h HISTORY 1", timeout: .seconds(20))
        for message in acknowledged {
            #expect(stored.contains { $0.hasSuffix(":\(message)") }, "acknowledged but lost: \(message.prefix(20))")
        }
        try await again.stop()
    }

    /// Started on a full disk, kefud waits for the store (not ready, STATUS says why) instead of exiting into a
    /// restart loop, and serves once space is freed.
    @Test func startedOnAFullDiskKefudWaitsForTheStoreInsteadOfExiting() async throws {
        guard geteuid() == 0 else {
            Issue.record("mounting a tmpfs needs root: this test did not run (CI runs as root)")
            return
        }
        let directory = try TemporaryDirectory(prefix: "kefu-full-start")
        let state = directory.path + "/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let mounted = try await runCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=6m", "tmpfs", state])
        try #require(mounted.status == 0, "mount: \(mounted.errorOutput)")
        defer { _ = try? runCommandBlocking("/bin/umount", ["-l", state]) }
        // A store that served once, then a full disk.
        try await TestDaemon.start(stateDirectory: state).stop()
        let filler = state + "/filler"
        _ = try await runCommand("/bin/dd", ["if=/dev/zero", "of=\(filler)", "bs=64k"])

        let notifier = RecordingNotifier()
        let starting = Task { try await TestDaemon.start(stateDirectory: state, notifier: notifier) }
        var waiting = false
        for _ in 0..<100 where !waiting {
            waiting = notifier.messages.contains { $0.contains("waiting for the store of shop default") }
            if !waiting { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(waiting, "\(notifier.messages)")
        #expect(!notifier.messages.contains { $0.hasPrefix("READY") })
        try FileManager.default.removeItem(atPath: filler)
        let daemon = try await starting.value
        let buyer = try await daemon.customer("buyer-1")
        #expect(try await buyer.completion("o OPEN presales :在吗") == "o OK conv=1")
        try await daemon.stop()
    }
}
