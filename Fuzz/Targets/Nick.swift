import Foundation
import ParleyProtocol

/// A nick as a client asks for it (`nick=` or the `nick` command).
///
/// A nick that `Nick.normalize` accepts is trimmed, in NFC, 1–32 scalars without Cc or Cf, and normalising it
/// again changes nothing. The clash suffix keeps a valid nick valid and within 32 scalars.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNick(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    guard count > 0, let raw = validText(start + 1, count - 1) else { return 0 }
    guard let nick = try? Nick.normalize(raw) else { return 0 }

    let scalars = nick.unicodeScalars
    require((1...Nick.maxScalars).contains(scalars.count), "\(scalars.count) scalars: \(nick.debugDescription)")
    for scalar in scalars {
        let category = scalar.properties.generalCategory
        require(category != .control && category != .format, "U+\(String(scalar.value, radix: 16)) kept in \(nick.debugDescription)")
    }
    let whiteSpace = CharacterSet.whitespacesAndNewlines
    require(!whiteSpace.contains(scalars.first!) && !whiteSpace.contains(scalars.last!), "not trimmed: \(nick.debugDescription)")
    require(sameScalars(nick.precomposedStringWithCanonicalMapping, nick), "not NFC: \(nick.debugDescription)")

    do {
        let again = try Nick.normalize(nick)
        require(sameScalars(again, nick), "normalising \(nick.debugDescription) again gave \(again.debugDescription)")
    } catch {
        fatalError("normalising \(nick.debugDescription) again refused it: \(error.message)")
    }

    // The first byte picks the clash number: small ones, and some with many digits.
    let n = Int(start[0]) < 200 ? Int(start[0]) + 2 : Int.max - Int(start[0])
    let suffixed = Nick.suffixed(nick, n)
    require(suffixed.unicodeScalars.count <= Nick.maxScalars, "suffixed too long: \(suffixed.debugDescription)")
    require(suffixed.hasSuffix("-\(n)"), "suffix lost: \(suffixed.debugDescription)")
    do {
        let normalized = try Nick.normalize(suffixed)
        require(sameScalars(normalized, suffixed), "suffixed \(suffixed.debugDescription) is not normalised: \(normalized.debugDescription)")
    } catch {
        fatalError("suffixed \(suffixed.debugDescription) is not a valid nick: \(error.message)")
    }
    return 0
}
