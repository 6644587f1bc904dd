import Benchmark
@_spi(Benchmarks) import KefuCore

#if canImport(Glibc)
    import Glibc
#endif

// Routing and deadline costs of KefuCore at three floor sizes. See Benchmarks/README.md for what each one measures
// and how to run them. Each benchmark builds its floor outside the measured region.

/// Metrics every benchmark reports; time and mallocs are per unit of the scaling factor (one decision, one deadline).
let metrics: [BenchmarkMetric] = [.throughput, .wallClock, .mallocCountTotal, .peakMemoryResident]

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: metrics, timeUnits: .nanoseconds, warmupIterations: 1, maxDuration: .seconds(5), maxIterations: 200
    )
    deadlineQueueBenchmarks()

    // Steady state: 1,000 decisions per iteration, alternating a close (its freed slot takes the best waiting
    // conversation) and an open (routed, or queued when every agent of its skill is full).
    for size in FloorSize.all {
        Benchmark(
            "Routing decisions: \(size.name)",
            configuration: .init(scalingFactor: .kilo)
        ) { benchmark, floor in
            for _ in benchmark.scaledIterations { floor.decide() }
        } setup: {
            SteadyFloor(size)
        }
    }

    // Arming by OPEN with no agent online: 1,000 opens onto a queue that already holds `queued` conversations.
    for queued in [10_000, 100_000, 1_000_000] {
        Benchmark(
            "Deadlines arm: 1000 opens onto \(queued) armed",
            configuration: .init(warmupIterations: 0, scalingFactor: .kilo, maxIterations: 10)
        ) { benchmark, box in
            for index in benchmark.scaledIterations {
                let customer = Names.customers[index % Names.customers.count]
                let open = Command.open(
                    .customer(customer), skill: Names.skills[index % FloorSize.skills], priority: .normal,
                    text: "hello", store: Names.stores[index / FloorSize.skills % FloorSize.stores]
                )
                blackHole(box.core.handle(open, at: Names.start))
            }
        } setup: {
            CoreBox(ArmedFloor(count: queued).restored())
        }
    }

    // Arming in bulk: restoring 1,000,000 queued conversations arms one deadline each (and queues them).
    Benchmark(
        "Deadlines arm: restore 1000000",
        configuration: .init(warmupIterations: 0, scalingFactor: .mega, maxIterations: 5)
    ) { benchmark, floor in
        benchmark.startMeasurement()
        let core = floor.restored()
        benchmark.stopMeasurement()
        blackHole(core)
    } setup: {
        ArmedFloor(count: 1_000_000)
    }

    // Firing: one clock jump past 1,000,000 first-response deadlines of queued conversations, which all breach.
    Benchmark(
        "Deadlines fire: 1000000 in one clock jump",
        configuration: .init(warmupIterations: 0, scalingFactor: .mega, maxIterations: 5)
    ) { benchmark, floor in
        var core = floor.restored()
        benchmark.startMeasurement()
        let step = core.handle(.tick, at: ArmedFloor.afterAll)
        benchmark.stopMeasurement()
        let breached = step.effects.count { if case .breach = $0 { true } else { false } }
        precondition(breached == floor.records.count, "every deadline should breach")
        blackHole(step)
    } setup: {
        ArmedFloor(count: 1_000_000)
    }

    // Cancelling: 1,000,000 held conversations whose agent answers each one (a human answer ends the round; its
    // deadlines stay armed and fire as no-ops), then the clock jumps past all of them: the cost of a cancel, and of
    // a cancelled deadline when it comes up.
    Benchmark(
        "Deadlines cancel: 1000000 answered, then their deadlines pass",
        configuration: .init(warmupIterations: 0, scalingFactor: .mega, maxIterations: 3)
    ) { benchmark, floor in
        var core = floor.restored()
        benchmark.startMeasurement()
        for record in floor.records {
            blackHole(core.handle(.send(.agent(record.agent!), record.id, text: "在的"), at: Names.start))
        }
        let step = core.handle(.tick, at: ArmedFloor.afterAll)
        benchmark.stopMeasurement()
        precondition(!step.effects.contains { if case .breach = $0 { true } else { false } }, "nothing should breach")
    } setup: {
        ArmedFloor(count: 1_000_000, held: true)
    }
}

/// The deadline queue on its own (SPI `Benchmarks`): 1,000,000 round deadlines armed, in arming order a minute
/// apart per conversation as a day of traffic arms them, then all popped. Memory per deadline is measured, not
/// computed: the growth of this process's resident memory while they are armed, divided by their number.
let deadlineBytes = BenchmarkMetric.custom("bytes per deadline", polarity: .prefersSmaller, useScalingFactor: false)

let deadlineQueueBenchmarks: @Sendable () -> Void = {
    Benchmark(
        "Deadline queue: arm 1000000",
        configuration: .init(
            metrics: [.wallClock, .mallocCountTotal, deadlineBytes], warmupIterations: 0, scalingFactor: .mega,
            maxIterations: 5)
    ) { benchmark in
        let before = residentBytes()
        var queue = DeadlineQueue()
        benchmark.startMeasurement()
        armRounds(&queue)
        benchmark.stopMeasurement()
        benchmark.measurement(deadlineBytes, (residentBytes() - before) / 1_000_000)
        blackHole(queue)
    }

    Benchmark(
        "Deadline queue: pop 1000000",
        configuration: .init(
            metrics: [.wallClock, .mallocCountTotal], warmupIterations: 0, scalingFactor: .mega, maxIterations: 5)
    ) { benchmark in
        var queue = DeadlineQueue()
        armRounds(&queue)
        benchmark.startMeasurement()
        var popped = 0
        while queue.popDue(at: Names.start + Milliseconds(1_000_000)) != nil { popped += 1 }
        benchmark.stopMeasurement()
        precondition(popped == 1_000_000, "every deadline should be due")
    }
}

/// Arms 1,000,000 round deadlines, sixty a millisecond, as a day of traffic arms them.
func armRounds(_ queue: inout DeadlineQueue) {
    for index in 0..<1_000_000 {
        let at = Names.start + Milliseconds(Int64(index / 60))
        queue.arm(.roundDue(ConversationID(Int64(index + 1)), round: 1), at: at)
    }
}

/// This process's resident memory now (`VmRSS`), in bytes.
func residentBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
        let kilobytes = line.split(separator: " ").compactMap({ Int($0) }).first
    else { return 0 }
    return kilobytes * 1024
}

/// A core that the measured closure mutates across iterations.
final class CoreBox {
    var core: RoutingCore
    init(_ core: RoutingCore) { self.core = core }
}
