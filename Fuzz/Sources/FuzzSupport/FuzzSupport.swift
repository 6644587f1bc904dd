import CLibFuzzer

#if canImport(Glibc)
    import Glibc
#endif

/// Runs libFuzzer's driver over `body` with the process's arguments (libFuzzer's flags, corpus directories or
/// inputs to replay) and exits with its status: non-zero when an input crashed, timed out or ran out of memory.
/// `body` must trap (`fatalError`) when an input breaks a property; its return value is ignored.
public func runFuzzer(_ body: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, body))
}

/// The input as a byte array (the pointer is only valid during the call).
public func fuzzInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// Reads decisions from the fuzzer's bytes, front to back; past the end every read is 0, so every input decodes to
/// something and a shorter input is a prefix of a longer one's story (what libFuzzer's mutations work best with).
public struct ByteReader {
    private let bytes: [UInt8]
    public private(set) var position = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var isAtEnd: Bool { position >= bytes.count }

    public mutating func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return bytes[position]
    }

    /// A number in `0..<count` (0 when count is 0).
    public mutating func below(_ count: Int) -> Int {
        count <= 0 ? 0 : Int(byte()) % count
    }

    /// A number in the range, from one byte (ranges wider than 256 are reached in steps).
    public mutating func within(_ range: ClosedRange<Int>) -> Int {
        let width = range.upperBound - range.lowerBound + 1
        if width <= 256 { return range.lowerBound + below(width) }
        return range.lowerBound + Int(UInt16(byte()) << 8 | UInt16(byte())) % width
    }

    public mutating func bool() -> Bool { byte() & 1 == 1 }

    /// One of the elements.
    public mutating func pick<T>(_ choices: [T]) -> T { choices[below(choices.count)] }

    /// The bytes left, consumed.
    public mutating func rest() -> ArraySlice<UInt8> {
        defer { position = bytes.count }
        return position < bytes.count ? bytes[position...] : []
    }
}
