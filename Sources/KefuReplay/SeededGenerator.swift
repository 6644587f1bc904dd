import Foundation
import KefuCore

/// SplitMix64: a fixed seed gives the same sequence in every process and on every platform (Swift's
/// `SystemRandomNumberGenerator` and the standard library's `random(in:using:)` make no such promise across
/// versions, so the draws below use only `next()` and their own arithmetic).
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }

    /// A uniform draw in [0, 1) from the top 53 bits (exactly representable, the same everywhere).
    public mutating func unit() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// A uniform index in 0..<count (multiply-shift: the bias is below 2⁻³² for any list a day produces).
    public mutating func index(below count: Int) -> Int {
        precondition(count > 0, "no samples to draw from")
        return Int(UInt64(count).multipliedFullWidth(by: next()).high)
    }

    /// An exponential draw with this mean (inversion; `1 - unit()` is never 0).
    public mutating func exponential(mean: Double) -> Double {
        -mean * log1p(-unit())
    }

    /// An exponential span, rounded to the millisecond.
    public mutating func exponential(mean: Milliseconds) -> Milliseconds {
        Milliseconds(Int64(exponential(mean: Double(mean.value)).rounded()))
    }

    /// One of the samples, each equally likely.
    public mutating func sample<Element>(_ samples: [Element]) -> Element {
        samples[index(below: samples.count)]
    }

    /// The number of events of a Poisson process with this mean (Knuth's product for small means, a sum of smaller
    /// draws for large ones, so `exp(-mean)` never underflows).
    public mutating func poisson(mean: Double) -> Int {
        guard mean > 0 else { return 0 }
        var left = mean
        var count = 0
        while left > 0 {
            let part = min(left, 30)
            left -= part
            let limit = exp(-part)
            var product = unit()
            while product > limit {
                count += 1
                product *= unit()
            }
        }
        return count
    }
}
