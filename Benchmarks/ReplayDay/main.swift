import Foundation
import KefuCore
import KefuReplay

// Issue #15's replay benchmark: a busy shop's day of about 1,000,000 inputs, recorded as kefud records it (the input
// journal, one row per store job), replayed through the core with its own rules (`ExactReplay`, what `kefuctl replay`
// runs after reading the rows). Prints the journal's size per input and per message, and the replay's time over
// several runs (median and spread). One thread: the replay is one core's work.
//
// usage: ReplayDay [--inputs 1000000] [--runs 5] [--agents 300]

struct Options {
    var inputs = 1_000_000
    var runs = 5
    var agents = 300

    init(_ arguments: [String]) {
        var rest = arguments.makeIterator()
        while let argument = rest.next() {
            let value = rest.next().flatMap(Int.init) ?? 0
            switch argument {
            case "--inputs": inputs = value
            case "--runs": runs = value
            case "--agents": agents = value
            default:
                print("usage: ReplayDay [--inputs 1000000] [--runs 5] [--agents 300]")
                exit(2)
            }
        }
    }
}

/// A deterministic stand-in for a day's traffic: buyers arrive all day, agents answer each message after a while, a
/// chat has eight buyer messages and eight answers, then the agent closes it; the daemon's timer ticks every second.
struct BusyDay {
    struct Pending: Comparable {
        var at: Instant
        var order: Int
        var command: Command
        static func < (a: Pending, b: Pending) -> Bool { (a.at, a.order) < (b.at, b.order) }
        static func == (a: Pending, b: Pending) -> Bool { a.at == b.at && a.order == b.order }
    }

    var core: RoutingCore
    var journal = InputJournal()
    var chunks: [InputJournal.Chunk] = []
    var heap = BinaryHeap<Pending>()
    var order = 0
    var inputs = 0
    var messages = 0
    var decisions = 0
    var random: UInt64 = 0x9E37_79B9_7F4A_7C15
    var left: [ConversationID: Int] = [:]
    let start = Instant(unixMilliseconds: 1_796_054_400_000)

    init(agents: Int) {
        let skills: [Skill] = ["presales", "logistics", "refund", "returns", "complaint"]
        let profiles = (0..<agents).map { n in
            AgentProfile(
                id: AgentID("agent-\(n)"), name: "Agent \(n)", maxChats: 5,
                skills: [skills[n % 5]: 3, skills[(n + 1) % 5]: 2])
        }
        let policy = RoutingPolicy(firstResponse: .seconds(120), response: .seconds(180), agents: profiles)
        let point = RestorePoint(policy: policy, at: start, nextConversationID: ConversationID(1))
        core = RoutingCore.restored(from: point).core
        journal.record(point)
        for profile in profiles {
            schedule(.connect(.agent(profile.id)), at: start)
            schedule(.setPresence(.agent(profile.id), .online), at: start)
        }
    }

    mutating func draw(_ range: Int) -> Int {
        random ^= random << 13
        random ^= random >> 7
        random ^= random << 17
        return Int(random % UInt64(range))
    }

    mutating func schedule(_ command: Command, at: Instant) {
        order += 1
        heap.insert(Pending(at: at, order: order, command: command))
    }

    mutating func pop() -> Pending? { heap.isEmpty ? nil : heap.removeMin() }

    mutating func record(inputs target: Int) {
        let skills: [Skill] = ["presales", "logistics", "refund", "returns", "complaint"]
        // A chat is about 18 inputs, plus a tick a second: enough chats, spread over the day, to fill `target`.
        let chats = target / 18
        for n in 0..<chats {
            let at = start + Milliseconds(Int64(n) * 86_400_000 / Int64(chats) + Int64(draw(1000)))
            schedule(
                .open(.customer(CustomerID("b\(n)")), skill: skills[n % 5], priority: n % 20 == 0 ? .vip : .normal, text: "·"),
                at: at)
        }
        var tick = start
        while inputs < target, let next = pop() {
            while tick + .seconds(1) <= next.at {
                tick = tick + .seconds(1)
                run(.tick, at: tick)
            }
            run(next.command, at: next.at)
        }
        if let chunk = journal.take() { chunks.append(chunk) }
    }

    mutating func run(_ command: Command, at: Instant) {
        let step = core.handle(command, at: at)
        inputs += 1
        decisions += InputJournal.Decision.of(step).count
        if case .send = command { messages += 1 }
        journal.record(command, at: at, step: step)
        // A store job of the daemon covers what one turn batch gathered: here, 45 inputs a row.
        if inputs % 45 == 0, let chunk = journal.take() { chunks.append(chunk) }
        for effect in step.effects {
            guard case .deliver(.agent(let agent), let event) = effect else { continue }
            switch event {
            case .assigned(let notice):
                left[notice.conversation] = 8
                schedule(.send(.agent(agent), notice.conversation, text: "·"), at: at + Milliseconds(Int64(5_000 + draw(60_000))))
            case .message(let conversation, .customer, _):
                schedule(.send(.agent(agent), conversation, text: "·"), at: at + Milliseconds(Int64(3_000 + draw(90_000))))
            default:
                break
            }
        }
        if case .send(.agent(let agent), let conversation, _, _) = command, case .ok = step.reply {
            let remaining = (left[conversation] ?? 0) - 1
            left[conversation] = remaining
            if remaining > 0, let customer = core.conversation(conversation)?.customer {
                schedule(.send(.customer(customer), conversation, text: "·"), at: at + Milliseconds(Int64(10_000 + draw(60_000))))
            } else {
                left[conversation] = nil
                schedule(.close(.agent(agent), conversation), at: at + Milliseconds(Int64(2_000 + draw(10_000))))
            }
        }
    }
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
let recordingStarted = ContinuousClock.now
var day = BusyDay(agents: options.agents)
day.record(inputs: options.inputs)
let bytes = day.chunks.reduce(0) { $0 + $1.bytes.count }
print("recorded \(day.inputs) inputs (\(day.messages) messages, \(day.decisions) decisions) in \(day.chunks.count) rows, "
    + "\(ContinuousClock.now - recordingStarted) to record")
print(String(format: "journal: %d bytes, %.1f bytes per input, %.1f bytes per message (journal bytes ÷ messages)",
    bytes, Double(bytes) / Double(day.inputs), Double(bytes) / Double(day.messages)))

var times: [Double] = []
for run in 1...options.runs {
    let began = ContinuousClock.now
    var recorded = RecordedRun(day.chunks)
    let verdict = try ExactReplay(from: day.start, to: day.start + .seconds(2 * 86_400)).run(&recorded)
    let (seconds, attoseconds) = (ContinuousClock.now - began).components
    let elapsed = Double(seconds) + Double(attoseconds) / 1e18
    times.append(elapsed)
    print(String(format: "run %d: %.2f s, %@ %d decisions, %.0f inputs/s", run, elapsed,
        verdict.identical ? "identical:" : "DIFFERENT:", verdict.decisions, Double(verdict.inputs) / elapsed))
    if !verdict.identical { print(verdict.firstDifference!.description) }
}
times.sort()
print(String(format: "replay of %d inputs: median %.2f s (%.2f–%.2f over %d runs)", day.inputs, times[times.count / 2],
    times.first!, times.last!, times.count))
