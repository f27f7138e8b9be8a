import Foundation
import GRDB
import ParleyProtocol

/// Attachments (§14) in the writer's transaction.
extension SQLiteMessageStore {
    public var supportsFiles: Bool { true }

    /// Marks the files as carried by the message, or refuses when one is unknown, in another room, or already
    /// carried by a message (this batch's included).
    static func claimAttachments(
        _ ids: [String],
        roomID: Int64,
        messageID: Int64,
        in db: Database
    ) throws -> Result<[Attachment], ProtocolError> {
        var attachments: [Attachment] = []
        let select = try db.cachedStatement(sql: "SELECT room_id, message_id, name, type, size, width, height FROM files WHERE id = ?")
        for id in ids {
            guard let row = try Row.fetchOne(select, arguments: [id]), row[0] as Int64 == roomID else {
                return .failure(ProtocolError(.notFound, "attachments: no file \(id) in this room"))
            }
            guard row[1] as Int64? == nil else {
                return .failure(ProtocolError(.badRequest, "attachments: file \(id) is already attached to a message"))
            }
            attachments.append(Attachment(id: id, name: row[2], type: row[3], size: row[4], width: row[5], height: row[6]))
        }
        let update = try db.cachedStatement(sql: "UPDATE files SET message_id = ? WHERE id = ?")
        for id in ids { try update.execute(arguments: [messageID, id]) }
        return .success(attachments)
    }

    static func saveAttachments(_ attachments: [Attachment], roomID: Int64, messageID: Int64, in db: Database) throws {
        let json = String(decoding: try JSONEncoder().encode(attachments), as: UTF8.self)
        try db.cachedStatement(sql: "UPDATE messages SET attachments = ? WHERE room_id = ? AND id = ?").execute(arguments: [json, roomID, messageID])
    }

    static func decodeAttachments(_ json: String) throws -> [Attachment] {
        try JSONDecoder().decode([Attachment].self, from: Data(json.utf8))
    }
}
