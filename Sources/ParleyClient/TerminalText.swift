/// Makes text from a server safe to print on a terminal.
///
/// A chat line is someone else's input. Printed raw, `\r` and `ESC [2K` rewrite the line it is on (a forged
/// chat line), other escape sequences set the window title or write the clipboard (OSC 52), and
/// bidirectional overrides reorder what follows. So every control character (Unicode Cc, C1 included),
/// every format character (Cf: bidi controls, invisible tags, zero-width marks) and the line and paragraph
/// separators are shown as visible escapes instead: `\n`, `\r`, `\t`, or `\u{XXXX}`. The joiners U+200C
/// and U+200D stay, as emoji sequences and several scripts need them and they cannot move or hide text.
public enum TerminalText {
    /// The common case, returned as it is.
    private static func isPrintableASCII(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
    }

    /// `text` with every character that could act on the terminal replaced by a visible escape.
    public static func escape(_ text: String) -> String {
        if isPrintableASCII(text) { return text }
        var escaped = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar) else {
                escaped.append(scalar)
                continue
            }
            let visible: String =
                switch scalar {
                case "\n": "\\n"
                case "\r": "\\r"
                case "\t": "\\t"
                default: "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
                }
            escaped.append(contentsOf: visible.unicodeScalars)
        }
        return String(escaped)
    }

    /// Valid JSON made safe to print and still the same JSON: the characters ``escape(_:)`` would show are
    /// written as `\uXXXX` escapes, which is all they can be inside a JSON string. Outside strings valid JSON
    /// has only white space, and tabs, carriage returns and line feeds there become spaces.
    public static func escapeJSON(_ json: String) -> String {
        if isPrintableASCII(json) { return json }
        var escaped = String.UnicodeScalarView()
        for scalar in json.unicodeScalars {
            switch scalar {
            case "\n", "\r", "\t":
                escaped.append(" ")
            case _ where needsEscape(scalar):
                for unit in String(scalar).utf16 {
                    let hex = String(unit, radix: 16)
                    escaped.append(contentsOf: ("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).unicodeScalars)
                }
            default:
                escaped.append(scalar)
            }
        }
        return String(escaped)
    }

    /// Whether printing `scalar` raw could move the cursor, control the terminal, or reorder or hide text.
    public static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .lineSeparator, .paragraphSeparator:
            return true
        case .format:
            return scalar != "\u{200C}" && scalar != "\u{200D}"
        default:
            return false
        }
    }
}
