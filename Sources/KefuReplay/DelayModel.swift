import KefuCore

/// How long a modelled person takes: per agent, drawn uniformly from that agent's recorded samples (else from
/// `fallback`, the floor's samples); or exponential with a mean; or always the same.
public struct DelayModel: Sendable {
    enum Shape: Sendable {
        case samples([AgentID: [Milliseconds]], fallback: [Milliseconds])
        case exponential(mean: Milliseconds)
        case fixed(Milliseconds)
    }

    let shape: Shape

    /// Each agent's recorded delays (agents without any, or with an empty list, draw from `fallback`; with an empty
    /// fallback too they take no time).
    public static func samples(_ byAgent: [AgentID: [Milliseconds]], fallback: [Milliseconds]) -> DelayModel {
        DelayModel(shape: .samples(byAgent, fallback: fallback))
    }

    public static func exponential(mean: Milliseconds) -> DelayModel { DelayModel(shape: .exponential(mean: mean)) }

    public static func fixed(_ value: Milliseconds) -> DelayModel { DelayModel(shape: .fixed(value)) }

    /// The mean delay an agent would draw (what Erlang C's formulas take as 1/μ).
    public func mean(for agent: AgentID) -> Milliseconds {
        switch shape {
        case .fixed(let value): return value
        case .exponential(let mean): return mean
        case .samples(let byAgent, let fallback):
            let samples = byAgent[agent].flatMap { $0.isEmpty ? nil : $0 } ?? fallback
            guard !samples.isEmpty else { return Milliseconds(0) }
            return Milliseconds(samples.reduce(0) { $0 + $1.value } / Int64(samples.count))
        }
    }

    /// One delay for this agent.
    public func draw(for agent: AgentID, using generator: inout SeededGenerator) -> Milliseconds {
        switch shape {
        case .fixed(let value):
            return value
        case .exponential(let mean):
            return generator.exponential(mean: mean)
        case .samples(let byAgent, let fallback):
            let samples = byAgent[agent].flatMap { $0.isEmpty ? nil : $0 } ?? fallback
            return samples.isEmpty ? Milliseconds(0) : generator.sample(samples)
        }
    }
}
