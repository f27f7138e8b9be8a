import Foundation

/// The rule for a reaction's `emoji` (contract §11).
public enum Emoji {
    /// Returns the emoji when it has 1–16 Unicode scalars, none of them white space or a control character
    /// (Cc), and no format character (Cf) but U+200D, the zero-width joiner that joined emoji are made with.
    /// The emoji comes back in Unicode normal form C, so two spellings of one emoji are one reaction (storage
    /// compares bytes, Swift strings compare canonically; both must agree on what "already there" means).
    public static func validate(_ emoji: String) throws(ProtocolError) -> String {
        let scalars = emoji.unicodeScalars
        guard (1...16).contains(scalars.count) else {
            throw ProtocolError(.badRequest, "emoji must be 1-16 Unicode scalars")
        }
        for scalar in scalars {
            let properties = scalar.properties
            let category = properties.generalCategory
            if properties.isWhitespace || category == .control || (category == .format && scalar.value != 0x200D) {
                throw ProtocolError(.badRequest, "emoji must not contain white space, control or format characters")
            }
        }
        return emoji.precomposedStringWithCanonicalMapping
    }
}
