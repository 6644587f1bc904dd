import KefuCore
import Testing

/// Every step must leave the routing state sound.
func expectInvariants(_ core: RoutingCore, at now: Instant, sourceLocation: SourceLocation = #_sourceLocation) {
    let problems = core.invariantViolations(at: now)
    #expect(problems.isEmpty, "invariants broken: \(problems)", sourceLocation: sourceLocation)
}
