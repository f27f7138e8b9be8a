import Foundation

/// Nick rules: trimmed, NFC-normalised, 1–32 Unicode scalars, no control or format characters.
public enum Nick {
    public static let maxScalars = 32

    /// Normalises `raw` and returns it when valid, or throws `invalid_nick`.
    public static func normalize(_ raw: String) throws(ProtocolError) -> String {
        // Printable ASCII with nothing to trim is normalized already (and holds no control character): no
        // Unicode work for the usual nick, which every connect request carries.
        let utf8 = raw.utf8
        if (1...maxScalars).contains(utf8.count), utf8.first != 0x20, utf8.last != 0x20, utf8.allSatisfy({ (0x20...0x7E).contains($0) }) {
            return raw
        }
        let nick = raw.trimmingCharacters(in: .whitespacesAndNewlines).precomposedStringWithCanonicalMapping
        let scalars = nick.unicodeScalars
        guard !scalars.isEmpty, scalars.count <= maxScalars else {
            throw ProtocolError(.invalidNick, "nick must be 1-32 characters after trimming")
        }
        for scalar in scalars {
            switch scalar.properties.generalCategory {
            case .control, .format:
                throw ProtocolError(.invalidNick, "nick must not contain control or format characters")
            default:
                continue
            }
        }
        return nick
    }

    /// The key under which nicks are compared for uniqueness (case-insensitive).
    public static func key(_ nick: String) -> String {
        nick.lowercased()
    }

    /// `base` with the suffix `-n`, dropping trailing scalars of `base` so the result stays within 32 scalars.
    public static func suffixed(_ base: String, _ n: Int) -> String {
        let suffix = "-\(n)"
        var scalars = Array(base.unicodeScalars)
        let room = maxScalars - suffix.unicodeScalars.count
        if scalars.count > room { scalars.removeLast(scalars.count - room) }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view) + suffix
    }

    /// A server-assigned nick for clients that gave none: `guest-XXXX`.
    public static func makeGuest() -> String {
        let digits = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        var generator = SystemRandomNumberGenerator()
        return "guest-" + String((0..<4).map { _ in digits[Int(generator.next(upperBound: UInt8(36)))] })
    }
}
