import Foundation
import ParleyClient
import Testing

@Suite struct TerminalTextTests {
    /// A forged line, a window title, a clipboard write (OSC 52), a bidi override, an 8-bit CSI and an
    /// invisible tag: each shown as an escape, nothing left that a terminal would act on.
    @Test func controlAndFormatCharactersAreShownNotPrinted() {
        let hostile =
            "ok\r\u{1B}[2K10:00:00 <admin> fake\u{1B}]0;title\u{07}\u{1B}]52;c;aGk=\u{1B}\\ \u{202E}txt.exe\u{9B}31m\u{E0041}\u{2028}\n\t\u{0}"
        let shown = TerminalText.escape(hostile)
        #expect(
            shown
                == #"ok\r\u{1B}[2K10:00:00 <admin> fake\u{1B}]0;title\u{7}\u{1B}]52;c;aGk=\u{1B}\ \u{202E}txt.exe\u{9B}31m\u{E0041}\u{2028}\n\t\u{0}"#
        )
        #expect(!shown.unicodeScalars.contains { TerminalText.needsEscape($0) })
    }

    @Test(arguments: [
        "plain ascii <>&\\ stays",
        "émoji 😀👍🏽 family 👨‍👩‍👧 and ZWNJ می‌خواهم",
        "right-to-left text שלום عربى stays",
        "",
    ])
    func printableTextIsUnchanged(text: String) {
        #expect(TerminalText.escape(text) == text)
    }

    /// C0 and C1 controls, DEL, and every bidirectional control (embeddings, overrides, isolates, marks).
    @Test func everyBidiControlAndControlCharacterIsEscaped() {
        let values: [UInt32] =
            Array(0...0x1F) + Array(0x7F...0x9F) + Array(0x202A...0x202E) + Array(0x2066...0x2069)
            + [0x200E, 0x200F, 0x061C, 0x00AD, 0x200B, 0xFEFF, 0x2029]
        for value in values {
            let scalar = Unicode.Scalar(value)!
            #expect(TerminalText.needsEscape(scalar), "U+\(String(value, radix: 16))")
            #expect(TerminalText.escape("a\(Character(scalar))b").unicodeScalars.count > 3)
        }
    }

    /// `create-room --json` prints the server's JSON: escaped inside strings, and still the same JSON.
    @Test func jsonStaysTheSameJSON() throws {
        let json = "{\"name\":\"a\u{202E}b\u{9B}c\u{E0041}\",\r\n\t\"code\":\"x\"}"
        let safe = TerminalText.escapeJSON(json)
        #expect(!safe.unicodeScalars.contains { TerminalText.needsEscape($0) })
        let original = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? NSDictionary
        let reread = try JSONSerialization.jsonObject(with: Data(safe.utf8)) as? NSDictionary
        #expect(original != nil && original == reread)
        #expect(safe.contains(#"a\u202eb\u009bc\udb40\udc41"#))
    }
}
