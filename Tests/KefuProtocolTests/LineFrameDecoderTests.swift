import KefuProtocol
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@Suite("Line framing")
struct LineFrameDecoderTests {
    func lines(_ input: String, max: Int = 16) -> [InboundLine] {
        var decoder = LineFrameDecoder(maxLineBytes: max)
        var buffer = ByteBuffer(string: input)
        var result: [InboundLine] = []
        while let line = decoder.nextLine(&buffer) { result.append(line) }
        return result
    }

    @Test func splitsOnLFAndDropsACRBeforeIt() {
        #expect(
            lines("a PING\r\nb PING\n") == [.line(ByteBuffer(string: "a PING")), .line(ByteBuffer(string: "b PING"))])
    }

    @Test func aCROnlyBeforeLFIsDropped() {
        #expect(lines("a\rb\n") == [.line(ByteBuffer(string: "a\rb"))])
    }

    @Test func aCompleteOverlongLineInOneReadIsRejectedAndTheNextLineStillWorks() {
        let long = String(repeating: "x", count: 17)
        #expect(
            lines("t1 \(long)\nt2 PING\n", max: 16) == [
                .tooLong(prefix: ByteBuffer(string: "t1 \(long)")),
                .line(ByteBuffer(string: "t2 PING")),
            ])
    }

    @Test func aLineExactlyAtTheLimitIsAccepted() {
        let exact = String(repeating: "y", count: 16)
        #expect(lines("\(exact)\r\n", max: 16) == [.line(ByteBuffer(string: exact))])
    }

    @Test func aLineAtTheLimitWhoseCRArrivesBeforeItsLFIsAccepted() {
        var decoder = LineFrameDecoder(maxLineBytes: 8)
        var buffer = ByteBuffer(string: "12345678\r")
        #expect(decoder.nextLine(&buffer) == nil)
        buffer.writeString("\n")
        #expect(decoder.nextLine(&buffer) == .line(ByteBuffer(string: "12345678")))
        // One more byte is too long, however the segments fall.
        var longer = ByteBuffer(string: "123456789\r")
        #expect(decoder.nextLine(&longer) == .tooLong(prefix: ByteBuffer(string: "123456789\r")))
    }

    @Test func anOverlongLineArrivingInPiecesIsDiscardedUpToItsLF() {
        var decoder = LineFrameDecoder(maxLineBytes: 8)
        var buffer = ByteBuffer(string: "tag0123456789")
        #expect(decoder.nextLine(&buffer) == .tooLong(prefix: ByteBuffer(string: "tag0123456789")))
        buffer.writeString("more garbage without end")
        #expect(decoder.nextLine(&buffer) == nil)
        buffer.writeString("rest\nok PING\n")
        #expect(decoder.nextLine(&buffer) == .line(ByteBuffer(string: "ok PING")))
    }

    @Test func decoderGivesTheSameLinesHoweverTheInputIsSplit() throws {
        let input = ByteBuffer(string: "a PING\r\nb SEND 1 :hi\\nthere\n\nc QUIT\n")
        let expected: [(ByteBuffer, [InboundLine])] = [
            (
                input,
                [
                    .line(ByteBuffer(string: "a PING")),
                    .line(ByteBuffer(string: "b SEND 1 :hi\\nthere")),
                    .line(ByteBuffer()),
                    .line(ByteBuffer(string: "c QUIT")),
                ]
            )
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: expected) {
            LineFrameDecoder(maxLineBytes: 100)
        }
    }

    @Test func embeddedChannelDeliversLinesAndStaysUsableAfterAnOverlongOne() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(LineFrameDecoder(maxLineBytes: 10)))
        try channel.writeInbound(ByteBuffer(string: "x 0123456789abcdef\ny PING\n"))
        #expect(
            try channel.readInbound(as: InboundLine.self) == .tooLong(prefix: ByteBuffer(string: "x 0123456789abcdef")))
        #expect(try channel.readInbound(as: InboundLine.self) == .line(ByteBuffer(string: "y PING")))
        #expect(try channel.finish().isClean)
    }
}
