import FuzzSupport
import KefuConfig

// The TOML configuration loader, fed any text, read both as kefud's main file and as a shop's file (`shops_dir`).
//
// Checked for every input:
// - it is accepted or refused with a `ConfigError`, never a crash or a hang;
// - a refusal names a line of the file (1 to the number of lines, or one past the last for a missing key);
// - every duration an accepted file holds can be used the way kefud uses it: in nanoseconds for the server's timers
//   (NIO's TimeAmount and Swift's Duration hold a signed 64-bit count), in milliseconds added to the current instant
//   for the routing core's deadlines. A value beyond that made kefud trap at startup instead of exiting 78 with the
//   file and line.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfiguration(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    // As `KefuConfiguration.text(at:)` reads a file, only valid UTF-8 gets this far.
    guard let text = String(validating: fuzzInput(data, size), as: UTF8.self) else { return 0 }
    let lines = text.utf8.count(where: { $0 == UInt8(ascii: "\n") }) + 1
    for kind in [ConfigurationFile.main, .shop] {
        do throws(ConfigError) {
            let configuration = try KefuConfiguration.parse(text, file: "fuzz.toml", kind: kind)
            for (key, seconds) in durations(of: configuration) {
                guard seconds.isFinite, seconds >= 0, seconds * 1e9 < 9.2e18 else {
                    fatalError("accepted \(key) = \(seconds) s, which kefud cannot hold in nanoseconds")
                }
            }
        } catch {
            if let line = error.line, !(1...lines + 1).contains(line) {
                fatalError("error on line \(line) of a file of \(lines) lines: \(error)")
            }
            guard !error.message.isEmpty else { fatalError("an error without a message: \(error)") }
        }
    }
    return 0
}

/// Every duration in seconds an accepted configuration holds, by its key.
func durations(of configuration: KefuConfiguration) -> [(String, Double)] {
    var all: [(String, Double?)] = [
        ("server.shutdown_grace_s", configuration.server.shutdownGraceSeconds),
        ("server.idle_timeout_s", configuration.server.idleTimeoutSeconds),
        ("server.slow_client_grace_s", configuration.server.slowClientGraceSeconds),
        ("sla.first_response_s", configuration.sla.firstResponseSeconds),
        ("sla.response_s", configuration.sla.responseSeconds),
        ("sla.warn_s", configuration.sla.warnSeconds),
        ("sla.customer_idle_close_s", configuration.sla.customerIdleCloseSeconds),
        ("sla.resolution_s", configuration.sla.resolutionSeconds),
        ("routing.sticky_window_s", configuration.routing.stickyWindowSeconds),
        ("routing.sticky_wait_s", configuration.routing.stickyWaitSeconds),
        ("routing.vip_boost_s", configuration.routing.vipBoostSeconds),
        ("routing.wrap_up_s", configuration.routing.wrapUpSeconds),
        ("routing.reconnect_grace_s", configuration.routing.reconnectGraceSeconds),
        ("routing.auto_away_window_s", configuration.routing.autoAwayWindowSeconds),
        ("csat.expire_s", configuration.satisfaction.expireSeconds),
    ]
    for (index, policy) in configuration.sla.policies.enumerated() {
        all += [
            ("sla.policy[\(index)].first_response_s", policy.firstResponseSeconds),
            ("sla.policy[\(index)].response_s", policy.responseSeconds),
            ("sla.policy[\(index)].resolution_s", policy.resolutionSeconds),
            ("sla.policy[\(index)].warn_s", policy.warnSeconds),
        ]
    }
    for (index, skill) in configuration.skills.enumerated() {
        all.append(("skill[\(index)].widen_after_s", skill.widenAfterSeconds))
    }
    for (index, rung) in (configuration.escalation ?? []).enumerated() {
        all.append(("escalation[\(index)].after_s", rung.afterSeconds))
    }
    if let cluster = configuration.cluster {
        all += [
            ("cluster.lease_ttl_s", cluster.leaseSeconds), ("cluster.renew_every_s", cluster.renewSeconds),
            ("cluster.probe_every_s", cluster.probeSeconds),
        ]
    }
    return all.compactMap { key, value in value.map { (key, $0) } }
}

runFuzzer(fuzzConfiguration)
