import Foundation

/// A client → server command (contract §5).
public enum ClientCommand: Hashable, Sendable {
    /// `replyTo` is a message id in the same room (§11); `attachments` are file ids (§14), checked with
    /// ``FileRules/validateAttachments(_:)`` when not empty.
    case message(text: String, clientID: String?, replyTo: Int64? = nil, attachments: [String] = [])
    /// Living messages (§11): the text is raw, checked by the caller like a message's.
    case edit(id: Int64, text: String)
    case delete(id: Int64)
    /// `emoji` is already checked with ``Emoji/validate(_:)``.
    case react(id: Int64, emoji: String)
    case unreact(id: Int64, emoji: String)
    case typing
    case nick(String)
    case history(before: Int64?, limit: Int?)
    case ping
    /// Moderation (§12), for the owner and moderators.
    case kick(nick: String)
    /// `seconds` nil: until unbanned.
    case ban(nick: String, seconds: Int64?)
    case unban(nick: String)
    case bans
    case room(RoomChange)
    /// Owner only (§12).
    case moderatorKey
    case revokeModeratorKeys

    /// Interprets one text frame.
    ///
    /// A frame that is not a JSON object with a `type` is chat text, so that `websocat` users
    /// can just type. Text is returned raw: length and white-space checks are the caller's.
    public static func parse(frame: String) throws(ProtocolError) -> ClientCommand {
        guard frame.utf8.first == UInt8(ascii: "{") else {
            return .message(text: MessageText.droppingTrailingNewline(frame), clientID: nil)
        }
        let object: RawObject
        if let fields = FlatJSON.object(frame) {
            // The usual command, read without JSONDecoder's containers and Data copy.
            object = RawObject(fields: fields)
        } else {
            do {
                object = try JSONDecoder().decode(RawObject.self, from: Data(frame.utf8))
            } catch {
                throw ProtocolError(.badRequest, "frame starts with { but is not a valid JSON object")
            }
        }
        return try object.command(frame: frame)
    }

    /// The JSON form a client sends.
    public var json: String {
        var object: [String: JSONValue] = [:]
        switch self {
        case .message(let text, let clientID, let replyTo, let attachments):
            object = ["type": .string("message"), "text": .string(text)]
            if let clientID { object["client_id"] = .string(clientID) }
            if let replyTo { object["reply_to"] = .number(Double(replyTo)) }
            if !attachments.isEmpty { object["attachments"] = .array(attachments.map { .string($0) }) }
        case .edit(let id, let text):
            object = ["type": .string("edit"), "id": .number(Double(id)), "text": .string(text)]
        case .delete(let id):
            object = ["type": .string("delete"), "id": .number(Double(id))]
        case .react(let id, let emoji):
            object = ["type": .string("react"), "id": .number(Double(id)), "emoji": .string(emoji)]
        case .unreact(let id, let emoji):
            object = ["type": .string("unreact"), "id": .number(Double(id)), "emoji": .string(emoji)]
        case .typing:
            object = ["type": .string("typing")]
        case .nick(let nick):
            object = ["type": .string("nick"), "nick": .string(nick)]
        case .history(let before, let limit):
            object = ["type": .string("history")]
            if let before { object["before"] = .number(Double(before)) }
            if let limit { object["limit"] = .number(Double(limit)) }
        case .ping:
            object = ["type": .string("ping")]
        case .kick(let nick):
            object = ["type": .string("kick"), "nick": .string(nick)]
        case .ban(let nick, let seconds):
            object = ["type": .string("ban"), "nick": .string(nick)]
            if let seconds { object["seconds"] = .number(Double(seconds)) }
        case .unban(let nick):
            object = ["type": .string("unban"), "nick": .string(nick)]
        case .bans:
            object = ["type": .string("bans")]
        case .room(let change):
            object = ["type": .string("room")]
            if let name = change.name { object["name"] = name.map(JSONValue.string) ?? .null }
            if let topic = change.topic { object["topic"] = topic.map(JSONValue.string) ?? .null }
            if let locked = change.locked { object["locked"] = .bool(locked) }
            if let slowMode = change.slowMode { object["slow_mode"] = .number(Double(slowMode)) }
        case .moderatorKey:
            object = ["type": .string("moderator_key")]
        case .revokeModeratorKeys:
            object = ["type": .string("revoke_moderator_keys")]
        }
        let data = (try? JSONEncoder().encode(object)) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// A JSON value, as much of one as command decoding needs.
enum JSONValue: Codable, Hashable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case null
    /// Only where a command takes an array (`attachments`); nested values stay ``other``.
    case array([JSONValue])
    case other

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .other
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .number(let value):
            if value == value.rounded(), abs(value) < 1e15 { try container.encode(Int64(value)) } else { try container.encode(value) }
        case .bool(let value): try container.encode(value)
        case .array(let values): try container.encode(values)
        case .null, .other: try container.encodeNil()
        }
    }

    var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// An exact integer, or nil.
    var integer: Int64? {
        if case .number(let value) = self, value == value.rounded(), abs(value) < 9e15 { return Int64(value) }
        return nil
    }
}

/// A decoded JSON object; nested objects and arrays are kept only as ``JSONValue/other``.
private struct RawObject: Decodable {
    var fields: [String: JSONValue]

    init(fields: [String: JSONValue]) {
        self.fields = fields
    }

    init(from decoder: any Decoder) throws {
        fields = try decoder.singleValueContainer().decode([String: JSONValue].self)
    }

    func command(frame: String) throws(ProtocolError) -> ClientCommand {
        guard let type = fields["type"] else {
            // The first seed's clients: {"Author", "Content"} and {"from", "message"}.
            if let text = fields["Content"]?.string ?? fields["message"]?.string {
                return .message(text: text, clientID: nil)
            }
            return .message(text: MessageText.droppingTrailingNewline(frame), clientID: nil)
        }
        guard case .string(let name) = type else {
            throw ProtocolError(.badRequest, "type must be a string")
        }
        switch name {
        case "message":
            guard let text = fields["text"]?.string else {
                throw ProtocolError(.badRequest, "message needs a string text")
            }
            var clientID: String?
            switch fields["client_id"] {
            case .none, .null: clientID = nil
            case .string(let value): clientID = value
            default: throw ProtocolError(.badRequest, "client_id must be a string")
            }
            return .message(
                text: text,
                clientID: try MessageText.validateClientID(clientID),
                replyTo: try optionalID("reply_to"),
                attachments: try attachments()
            )
        case "edit":
            guard let text = fields["text"]?.string else {
                throw ProtocolError(.badRequest, "edit needs a string text")
            }
            return .edit(id: try requiredID(), text: text)
        case "delete":
            return .delete(id: try requiredID())
        case "react", "unreact":
            guard let raw = fields["emoji"]?.string else {
                throw ProtocolError(.badRequest, "\(name) needs a string emoji")
            }
            let (id, emoji) = (try requiredID(), try Emoji.validate(raw))
            return name == "react" ? .react(id: id, emoji: emoji) : .unreact(id: id, emoji: emoji)
        case "typing":
            return .typing
        case "nick":
            guard let nick = fields["nick"]?.string else {
                throw ProtocolError(.badRequest, "nick needs a string nick")
            }
            return .nick(nick)
        case "history":
            return .history(before: try optionalInteger("before"), limit: try optionalInteger("limit").map { Int($0) })
        case "ping":
            return .ping
        case "kick", "unban":
            let nick = try requiredNick(name)
            return name == "kick" ? .kick(nick: nick) : .unban(nick: nick)
        case "ban":
            let nick = try requiredNick(name)
            let seconds = try optionalInteger("seconds")
            if let seconds, seconds <= 0 { throw ProtocolError(.badRequest, "seconds must be a positive integer") }
            return .ban(nick: nick, seconds: seconds)
        case "bans":
            return .bans
        case "room":
            return .room(try roomChange().validated())
        case "moderator_key":
            return .moderatorKey
        case "revoke_moderator_keys":
            return .revokeModeratorKeys
        default:
            throw ProtocolError(.unknownType, "unknown command type")
        }
    }

    /// The `attachments` of a message: absent, or 1–10 distinct file ids.
    private func attachments() throws(ProtocolError) -> [String] {
        switch fields["attachments"] {
        case .none, .null: return []
        case .array(let values):
            var ids: [String] = []
            for value in values {
                guard let id = value.string else { throw ProtocolError(.badRequest, "attachments must be file ids") }
                ids.append(id)
            }
            return try FileRules.validateAttachments(ids)
        default: throw ProtocolError(.badRequest, "attachments must be an array of file ids")
        }
    }

    private func requiredNick(_ command: String) throws(ProtocolError) -> String {
        guard let nick = fields["nick"]?.string else { throw ProtocolError(.badRequest, "\(command) needs a string nick") }
        return nick
    }

    private func roomChange() throws(ProtocolError) -> RoomChange {
        var change = RoomChange()
        change.name = try optionalText("name")
        change.topic = try optionalText("topic")
        switch fields["locked"] {
        case .none: break
        case .bool(let locked): change.locked = locked
        default: throw ProtocolError(.badRequest, "locked must be true or false")
        }
        if fields["slow_mode"] != nil {
            guard let seconds = try optionalInteger("slow_mode") else { throw ProtocolError(.badRequest, "slow_mode must be an integer") }
            guard let value = Int(exactly: seconds) else { throw ProtocolError(.badRequest, "slow_mode must be 0-3600 seconds") }
            change.slowMode = value
        }
        return change
    }

    /// Absent: nil; `null`: clear it; a string: set it.
    private func optionalText(_ key: String) throws(ProtocolError) -> String?? {
        switch fields[key] {
        case .none: return nil
        case .null: return .some(nil)
        case .string(let value): return .some(value)
        default: throw ProtocolError(.badRequest, "\(key) must be a string or null")
        }
    }

    /// A message id: a positive integer.
    private func optionalID(_ key: String) throws(ProtocolError) -> Int64? {
        guard let value = try optionalInteger(key) else { return nil }
        guard value > 0 else { throw ProtocolError(.badRequest, "\(key) must be a message id (a positive integer)") }
        return value
    }

    private func requiredID() throws(ProtocolError) -> Int64 {
        guard let id = try optionalID("id") else { throw ProtocolError(.badRequest, "id must be a message id (a positive integer)") }
        return id
    }

    private func optionalInteger(_ key: String) throws(ProtocolError) -> Int64? {
        switch fields[key] {
        case .none, .null: return nil
        case .some(let value):
            guard let integer = value.integer else { throw ProtocolError(.badRequest, "\(key) must be an integer") }
            return integer
        }
    }
}
