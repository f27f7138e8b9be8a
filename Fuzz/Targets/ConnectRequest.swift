import Foundation
import ParleyProtocol

@testable import ParleyServer

/// The query of `GET /ws`, split into parameters the way Hummingbird does it: pairs at `&`, the name up to the
/// first `=`, the value percent-decoded (kept raw when that fails), the first pair of a name wins.
///
/// `ConnectRequest` never traps, refuses only with `invalid_room`, `invalid_nick` or `bad_request`, and what it
/// accepts obeys contract §2: a valid room code taken verbatim from the first of `room`, `roomCode`, `token`;
/// a normalised nick exactly when `nick` is non-empty; `since` a non-negative integer equal to the one given;
/// a session exactly when the value is a secret this server could have handed out.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConnectRequest(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    guard let query = validText(start, count) else { return 0 }
    let pairs: [(name: Substring, value: Substring)] = query.split(separator: "&").map { pair in
        guard let equals = pair.firstIndex(of: "=") else { return (pair, "") }
        let raw = pair[pair.index(after: equals)...]
        return (pair[..<equals], raw.removingPercentEncoding.map { $0[...] } ?? raw)
    }
    func parameter(_ name: Substring) -> Substring? {
        pairs.first { $0.name == name }?.value
    }

    let request: ConnectRequest
    do {
        request = try ConnectRequest(parameter: parameter)
    } catch {
        let codes: Set<ErrorCode> = [.invalidRoom, .invalidNick, .badRequest]
        require(codes.contains(error.code), "refused with \(error.code): \(query.debugDescription)")
        return 0
    }

    let room = ["room", "roomCode", "token"].lazy.compactMap { parameter($0[...]) }.first
    require(room.map { sameScalars(String($0), request.roomCode) } == true, "room code \(request.roomCode) from \(query.debugDescription)")
    require((try? RoomCode.validate(request.roomCode)) != nil, "invalid room code accepted: \(query.debugDescription)")

    let nick = parameter("nick").flatMap { $0.isEmpty ? nil : $0 }
    require((nick == nil) == (request.nick == nil), "nick \(String(describing: request.nick)) from \(query.debugDescription)")
    if let accepted = request.nick {
        require((try? Nick.normalize(accepted)).map { sameScalars($0, accepted) } == true, "nick not normalised: \(accepted.debugDescription)")
    }

    let since = parameter("since").flatMap { $0.isEmpty ? nil : $0 }
    require((since == nil) == (request.since == nil), "since \(String(describing: request.since)) from \(query.debugDescription)")
    if let value = request.since {
        require(value >= 0 && Int64(since!) == value, "since \(value) from \(query.debugDescription)")
    }

    if let session = request.session {
        require(parameter("session").map { String($0) == session.description } == true, "session \(session) from \(query.debugDescription)")
        require(SessionSecret(session.description) == session, "session \(session) does not read back")
    } else if let raw = parameter("session") {
        let hex = raw.utf8.count == 40 && raw.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
        require(!hex, "the secret \(raw) was ignored")
    }
    return 0
}
