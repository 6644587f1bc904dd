import NIOCore

/// The pieces every server line is written with, straight into the bytes that go to the socket: no intermediate
/// string per line. Values of `key=value` pairs never contain spaces (a space is written as `_`); free text goes last
/// after ` :`, escaped so that a multi-line message stays one line.
extension ByteBuffer {
    /// ` key=value`
    @inlinable
    public mutating func writeField(_ key: StaticString, _ value: String) {
        writeInteger(UInt8(ascii: " "))
        writeStaticString(key)
        writeInteger(UInt8(ascii: "="))
        writeFieldValue(value)
    }

    /// ` key=value` for a key known only at run time (listings built from configuration).
    public mutating func writeField(named key: String, _ value: String) {
        writeInteger(UInt8(ascii: " "))
        writeString(key)
        writeInteger(UInt8(ascii: "="))
        writeFieldValue(value)
    }

    /// ` key=<decimal>`, without making a string of the number.
    @inlinable
    public mutating func writeField(_ key: StaticString, _ value: Int64) {
        writeInteger(UInt8(ascii: " "))
        writeStaticString(key)
        writeInteger(UInt8(ascii: "="))
        writeDecimal(value)
    }

    @inlinable
    public mutating func writeField(_ key: StaticString, _ value: Int) {
        writeField(key, Int64(value))
    }

    /// A value as it may appear after `key=`: a space would break the framing of the pairs, so it is written as `_`
    /// (ids never have one).
    public mutating func writeFieldValue(_ value: String) {
        var value = value
        // Over the contiguous bytes: the UTF-8 view's iterator costs a call and checks per byte.
        value.withUTF8 { bytes in
            guard bytes.contains(UInt8(ascii: " ")) else {
                writeBytes(UnsafeRawBufferPointer(bytes))
                return
            }
            for byte in bytes { writeInteger(byte == UInt8(ascii: " ") ? UInt8(ascii: "_") : byte) }
        }
    }

    /// ` :text`, escaped.
    public mutating func writeText(_ text: String) {
        writeInteger(UInt8(ascii: " "))
        writeInteger(UInt8(ascii: ":"))
        writeEscaped(text)
    }

    /// Text made to fit one line: backslash as `\\`, line feed as `\n`, carriage return as `\r`. Byte-wise is exact:
    /// in UTF-8 these three bytes never occur inside another character's encoding, so no text can forge a line break
    /// (an "\r\n" that Swift sees as one character is still two bytes here, each escaped).
    public mutating func writeEscaped(_ text: String) {
        var text = text
        // Over the contiguous bytes, copied in runs between escapes (most text has none: one copy).
        text.withUTF8 { bytes in
            let raw = UnsafeRawBufferPointer(bytes)
            var start = 0
            for index in bytes.indices {
                let escape: StaticString
                switch bytes[index] {
                case UInt8(ascii: "\\"): escape = "\\\\"
                case UInt8(ascii: "\n"): escape = "\\n"
                case UInt8(ascii: "\r"): escape = "\\r"
                default: continue
                }
                writeBytes(UnsafeRawBufferPointer(rebasing: raw[start..<index]))
                writeStaticString(escape)
                start = index + 1
            }
            writeBytes(UnsafeRawBufferPointer(rebasing: raw[start...]))
        }
    }

    /// A signed decimal number.
    @inlinable
    public mutating func writeDecimal(_ value: Int64) {
        if value < 0 { writeInteger(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        if magnitude < 10 {
            writeInteger(UInt8(ascii: "0") &+ UInt8(magnitude))
            return
        }
        // At most 20 digits: filled from the end of a fixed scratch, then copied once.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var index = 20
            while magnitude > 0 {
                index -= 1
                digits[index] = UInt8(ascii: "0") &+ UInt8(magnitude % 10)
                magnitude /= 10
            }
            writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(digits)[index..<20]))
        }
    }

    /// The LF that ends every line.
    @inlinable
    public mutating func endLine() {
        writeInteger(UInt8(ascii: "\n"))
    }
}
