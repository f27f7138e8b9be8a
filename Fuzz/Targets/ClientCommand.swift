import Foundation

@testable import ParleyProtocol

/// One text frame, as a client sends it.
///
/// - `FlatJSON` is a fast path in front of `JSONDecoder`: wherever it accepts, `JSONDecoder` must accept the
///   same bytes and read exactly the same fields (so the command, made from the fields alone, is the same).
///   Where it declines, `ClientCommand.parse` uses `JSONDecoder`, so there is nothing to compare: declining
///   valid JSON only costs speed, and it must decline whatever `JSONDecoder` rejects.
/// - `parse` never traps and refuses only with a command error code.
/// - A parsed command survives its own JSON form unchanged, scalar for scalar.
/// - Message text that passes validation obeys the text rules.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzClientCommand(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    // A text frame is valid UTF-8 (anything else is closed with 1007 before parsing).
    guard let frame = validText(start, count) else { return 0 }

    if let fast = FlatJSON.object(frame) {
        let slow = try? JSONDecoder().decode([String: JSONValue].self, from: Data(frame.utf8))
        require(slow != nil, "FlatJSON accepted what JSONDecoder rejects: \(frame.debugDescription)")
        require(slow == fast, "FlatJSON read \(fast), JSONDecoder \(String(describing: slow)) from \(frame.debugDescription)")
        for (key, value) in fast {
            if case .string(let text) = value, let other = slow?[key]?.string {
                require(sameScalars(text, other), "FlatJSON and JSONDecoder differ in the scalars of \(key): \(frame.debugDescription)")
            }
        }
    }

    let command: ClientCommand
    do {
        command = try ClientCommand.parse(frame: frame)
    } catch {
        let codes: Set<ErrorCode> = [.badRequest, .unknownType]
        require(codes.contains(error.code), "parse refused with \(error.code): \(frame.debugDescription)")
        return 0
    }

    let again: ClientCommand
    do {
        again = try ClientCommand.parse(frame: command.json)
    } catch {
        fatalError("the JSON form of \(command) was refused (\(error.code)): \(command.json.debugDescription)")
    }
    require(sameScalars("\(again)", "\(command)"), "\(command) came back as \(again) from \(command.json.debugDescription)")

    if case .message(let text, _, _, _) = command, let valid = try? MessageText.validate(text, maxBytes: 4096) {
        require(!valid.isEmpty && valid.utf8.count <= 4096, "text out of bounds passed: \(valid.debugDescription)")
        require(!valid.unicodeScalars.allSatisfy(\.properties.isWhitespace), "white-space text passed: \(valid.debugDescription)")
        require(!valid.utf8.contains(0), "text with U+0000 passed")
    }
    return 0
}
