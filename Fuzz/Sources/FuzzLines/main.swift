import FuzzSupport
import KefuCore
import KefuProtocol
import NIOCore

// The line framing and the request parser, fed any bytes.
//
// Input: one byte choosing the line limit, one byte seeding how the stream is cut into reads, then the stream a
// client sends. Checked for every input:
// - framing the stream in one read and in many small reads (cut anywhere, a CR LF split included, and handed to a new
//   decoder midway as a restart that keeps the connection does) gives the same lines and the same overlong-line
//   verdicts, each line without LF and within the limit;
// - a framed line is refused as `bad-encoding` exactly when it is not valid UTF-8 (the parser's own validator against
//   the standard library's);
// - a parsed line written back in canonical form (`TAG VERB ARG... :escaped text`) parses to the same line;
// - every reply to a line (the request, or the error with the tag the server would use) renders as one line.

/// The limits a configuration may set (`max_line_bytes` is at least 64) and the default.
let limits = [64, 65, 100, 128, 256, 1024, 16_384]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLines(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = ByteReader(fuzzInput(data, size))
    let maxLineBytes = input.pick(limits)
    let seed = input.byte()
    let stream = Array(input.rest())

    let whole = frames(of: stream, maxLineBytes: maxLineBytes, cuts: [stream.count])
    let sizes = cuts(of: stream.count, seed: seed)
    // A restart that keeps the connection hands the unread bytes and whether the decoder was inside an overlong line
    // to a new decoder in the next process: after one of the reads, chosen by the seed.
    let handover = sizes.isEmpty ? nil : Int(seed) % sizes.count
    let pieces = frames(of: stream, maxLineBytes: maxLineBytes, cuts: sizes, handover: handover)
    guard whole.frames == pieces.frames, whole.discarding == pieces.discarding else {
        fatalError("framing depends on how the bytes arrive: in one read \(whole), in pieces \(pieces)")
    }
    for frame in whole.frames { check(frame, maxLineBytes: maxLineBytes) }
    return 0
}

/// What the decoder makes of the stream delivered in reads of the given sizes (handed to a new decoder after read
/// number `handover`), and whether it ends inside an overlong line.
func frames(
    of stream: [UInt8], maxLineBytes: Int, cuts: [Int], handover: Int? = nil
) -> (frames: [InboundLine], discarding: Bool) {
    var decoder = LineFrameDecoder(maxLineBytes: maxLineBytes)
    var buffer = ByteBufferAllocator().buffer(capacity: 64)
    var frames: [InboundLine] = []
    var offset = 0
    for (index, size) in cuts.enumerated() {
        buffer.writeBytes(stream[offset..<offset + size])
        offset += size
        while let frame = decoder.nextLine(&buffer) { frames.append(frame) }
        // As NIO's ByteToMessageHandler does between reads.
        buffer.discardReadBytes()
        if index == handover {
            // As the next kefud takes over a connection: the bytes not yet framed, and the decoder's state.
            buffer = ByteBuffer(bytes: Array(buffer.readableBytesView))
            decoder = LineFrameDecoder(maxLineBytes: maxLineBytes, discarding: decoder.isDiscarding)
        }
    }
    return (frames, decoder.isDiscarding)
}

/// Read sizes from 1 to 16 bytes covering `count`, from a small generator seeded by the input.
func cuts(of count: Int, seed: UInt8) -> [Int] {
    var state = UInt32(seed) &* 2_654_435_761 | 1
    var sizes: [Int] = []
    var left = count
    while left > 0 {
        state ^= state << 13
        state ^= state >> 17
        state ^= state << 5
        let size = min(left, Int(state % 16) + 1)
        sizes.append(size)
        left -= size
    }
    return sizes
}

func check(_ frame: InboundLine, maxLineBytes: Int) {
    switch frame {
    case .tooLong(let prefix):
        guard prefix.readableBytes <= 40 else { fatalError("an overlong line kept \(prefix.readableBytes) bytes") }
        let tag = ClientLine.replyTag(for: prefix)
        checkReply(.error(tag: tag, ProtocolError(.lineTooLong, "line longer than the limit was discarded")), tag: tag)
    case .line(let bytes):
        let raw = Array(bytes.readableBytesView)
        guard !raw.contains(UInt8(ascii: "\n")), raw.count <= maxLineBytes else {
            fatalError("a framed line of \(raw.count) bytes (limit \(maxLineBytes)) holds a LF or is too long")
        }
        let valid = String(validating: raw, as: UTF8.self) != nil
        switch ClientLine.parse(bytes) {
        case .failure(let error):
            guard (error.code == .badEncoding) == !valid else {
                fatalError("line \(raw) is \(valid ? "" : "not ")valid UTF-8 but the parser said \(error)")
            }
            let tag = ClientLine.replyTag(for: bytes)
            checkReply(.error(tag: tag, error), tag: tag)
        case .success(let line):
            guard valid else { fatalError("line \(raw) is not valid UTF-8 but parsed as \(line)") }
            guard ClientLine.isValidTag(line.tag), !line.verb.isEmpty else {
                fatalError("parsed a line with tag \(line.tag.debugDescription), verb \(line.verb.debugDescription)")
            }
            let canonical = render(line)
            guard case .success(let again) = ClientLine.parse(canonical), again == line else {
                fatalError("\(line) written as \(canonical.debugDescription) parses as \(ClientLine.parse(canonical))")
            }
            do {
                let request = try Request(line)
                // What the server answers a request it cannot carry out for this client: one line, whatever it was.
                if !request.allowedBeforeLogin {
                    checkReply(
                        .error(tag: line.tag, ProtocolError(.notLoggedIn, "log in first: \(line.verb)")), tag: line.tag)
                }
            } catch {
                checkReply(.error(tag: line.tag, error), tag: line.tag)
            }
        }
    }
}

/// The line as a well-behaved client would write it.
func render(_ line: ClientLine) -> String {
    var text = ([line.tag, line.verb] + line.arguments).joined(separator: " ")
    if let body = line.text {
        text += " :"
        for scalar in body.unicodeScalars {
            switch scalar {
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            default: text.unicodeScalars.append(scalar)
            }
        }
    }
    return text
}

/// A reply must be one line that starts with the tag the client will look for (`*` when its line had none).
func checkReply(_ reply: OutboundLine, tag: String) {
    guard tag == "*" || ClientLine.isValidTag(tag) else { fatalError("reply tag \(tag.debugDescription)") }
    var buffer = ByteBufferAllocator().buffer(capacity: 128)
    reply.write(to: &buffer)
    let bytes = Array(buffer.readableBytesView)
    guard bytes.last == UInt8(ascii: "\n"),
        bytes.dropLast().allSatisfy({ $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\r") }),
        bytes.starts(with: Array((tag + " ").utf8))
    else {
        fatalError("reply \(String(decoding: bytes, as: UTF8.self).debugDescription) is not one line for tag \(tag)")
    }
}

runFuzzer(fuzzLines)
