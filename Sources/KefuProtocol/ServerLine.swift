/// Renders the lines the server sends. Values of `key=value` pairs never contain spaces (ids and numbers);
/// free text goes last after ` :`, escaped so that a multi-line message stays one line.
public enum ServerLine {
    /// `TAG OK [key=value ...]`
    public static func ok(_ tag: String, _ fields: [(String, String)] = []) -> String {
        var line = "\(tag) OK"
        appendFields(fields, to: &line)
        return line
    }

    /// `TAG ERR <code> :<text>`
    public static func error(_ tag: String, _ error: ProtocolError) -> String {
        "\(tag) ERR \(error.code.rawValue) :\(escape(error.message))"
    }

    /// `* NAME [key=value ...] [:text]`
    public static func event(_ name: String, _ fields: [(String, String)] = [], text: String? = nil) -> String {
        var line = "* \(name)"
        appendFields(fields, to: &line)
        if let text {
            line += " :"
            line += escape(text)
        }
        return line
    }

    /// Escapes text so it fits one line: backslash as `\\`, newline as `\n`, and (defensively, though clients
    /// cannot send one) carriage return as `\r`.
    ///
    /// Works on Unicode scalars: as characters, "\r\n" is one grapheme that equals neither "\r" nor "\n" and would
    /// slip through unescaped, letting a customer forge whole lines in an agent's stream.
    public static func escape(_ text: String) -> String {
        let utf8 = text.utf8
        guard utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") })
        else { return text }
        var result = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": result.append(contentsOf: "\\\\".unicodeScalars)
            case "\n": result.append(contentsOf: "\\n".unicodeScalars)
            case "\r": result.append(contentsOf: "\\r".unicodeScalars)
            default: result.append(scalar)
            }
        }
        return String(result)
    }

    private static func appendFields(_ fields: [(String, String)], to line: inout String) {
        for (key, value) in fields {
            line += " "
            line += key
            line += "="
            // A value with a space would break the framing of key=value pairs; ids never have one.
            line += value.contains(" ") ? String(value.map { $0 == " " ? "_" : $0 }) : value
        }
    }
}
