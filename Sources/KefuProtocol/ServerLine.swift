import NIOCore

/// Server lines as strings, for tests and the few places that log a line. The daemon writes lines as bytes
/// (``OutboundLine``); both are rendered by the same ``ByteBuffer`` writers.
public enum ServerLine {
    /// `TAG OK [key=value ...]`
    public static func ok(_ tag: String, _ fields: [(String, String)] = []) -> String {
        render { buffer in
            buffer.writeString(tag)
            buffer.writeStaticString(" OK")
            for (key, value) in fields { buffer.writeField(named: key, value) }
        }
    }

    /// `TAG ERR <code> :<text>`
    public static func error(_ tag: String, _ error: ProtocolError) -> String {
        OutboundLine.error(tag: tag, error).rendered
    }

    /// `* NAME [key=value ...] [:text]`
    public static func event(_ name: String, _ fields: [(String, String)] = [], text: String? = nil) -> String {
        render { buffer in
            buffer.writeStaticString("* ")
            buffer.writeString(name)
            for (key, value) in fields { buffer.writeField(named: key, value) }
            if let text { buffer.writeText(text) }
        }
    }

    /// Escapes text so it fits one line: backslash as `\\`, newline as `\n`, carriage return as `\r`.
    public static func escape(_ text: String) -> String {
        render { $0.writeEscaped(text) }
    }

    private static func render(_ body: (inout ByteBuffer) -> Void) -> String {
        var buffer = ByteBufferAllocator().buffer(capacity: 64)
        body(&buffer)
        return String(buffer: buffer)
    }
}
