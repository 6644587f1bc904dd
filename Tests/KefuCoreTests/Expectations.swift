import KefuCore
import Testing

/// Every step must leave the routing state sound.
func expectInvariants(_ core: RoutingCore, sourceLocation: SourceLocation = #_sourceLocation) {
    let problems = core.invariantViolations()
    #expect(problems.isEmpty, "invariants broken: \(problems)", sourceLocation: sourceLocation)
}
