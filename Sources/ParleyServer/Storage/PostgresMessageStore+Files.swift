import Foundation
import Logging
import ParleyProtocol
import PostgresNIO

/// Attachments (§14) on PostgreSQL: a message with attachments is appended and takes its files in one
/// transaction of its own, so it is stored with all its files or not at all.
extension PostgresMessageStore {
    public var supportsFiles: Bool { true }

    /// Thrown inside the transaction to roll the message back when a file is refused.
    private struct Refused: Error {
        var error: ProtocolError
    }

    func appendAttached(_ pending: PendingMessage) async throws -> AppendResult {
        do {
            return try await client.withDeadline(Self.callTimeout) { db in
                // A refusal is an answer: caught here, so the pool does not count it as a silent database.
                do {
                    return try await db.transaction(logger: self.logger) { db in try await self.appendAttached(pending, on: db) }
                } catch let refused as Refused {
                    return .refused(refused.error)
                }
            }
        } catch let error as PSQLError where Self.isRowError(error) {
            logger.warning("a message could not be stored", metadata: ["error": "\(String(reflecting: error))"])
            return .refused(Self.rowRefused)
        }
    }

    private func appendAttached(_ pending: PendingMessage, on db: PostgresConnection) async throws -> AppendResult {
        let result = try await appendMessages([pending], on: db)[0]
        switch result {
        case .stored(var message):
            let rows = try await db.query(
                "SELECT o_refused, o_file, o_attachments FROM parley_attach(\(pending.roomID), \(message.id), \(pending.attachments))",
                logger: logger
            )
            for try await (refused, file, attachments) in rows.decode((String?, String?, String?).self) {
                switch refused {
                case nil:
                    message.attachments = attachments.flatMap(Self.decodeAttachments)
                    return .stored(message)
                case "attached":
                    throw Refused(error: ProtocolError(.badRequest, "attachments: file \(file ?? "") is already attached to a message"))
                default:
                    throw Refused(error: ProtocolError(.notFound, "attachments: no file \(file ?? "") in this room"))
                }
            }
            throw StorageError.unavailable
        case .duplicate(var message), .conflict(var message):
            // The original as readers see it, with its files.
            let rows = try await db.query(
                "SELECT attachments FROM messages WHERE room_id = \(pending.roomID) AND id = \(message.id)",
                logger: logger
            )
            for try await attachments in rows.decode(String?.self) where message.deleted != true {
                message.attachments = attachments.flatMap(Self.decodeAttachments)
            }
            if case .duplicate = result { return .duplicate(message) }
            return .conflict(message)
        default:
            return result
        }
    }

    /// As `parley_attach` writes them: an attachment without its `url`, which is made from its id and name.
    private struct StoredAttachment: Decodable {
        var id: String
        var name: String
        var type: String
        var size: Int64
        var width: Int?
        var height: Int?
    }

    static func decodeAttachments(_ json: String) -> [Attachment]? {
        guard let stored = try? JSONDecoder().decode([StoredAttachment].self, from: Data(json.utf8)) else { return nil }
        return stored.map { Attachment(id: $0.id, name: $0.name, type: $0.type, size: $0.size, width: $0.width, height: $0.height) }
    }
}

extension PostgresConnection {
    /// `withTransaction` that throws what failed (the body's error, or BEGIN's or COMMIT's) rather than
    /// postgres-nio's wrapper, so that ``PostgresPool`` can tell an error PostgreSQL sent from silence.
    func transaction<Value: Sendable>(
        logger: Logger,
        _ body: (PostgresConnection) async throws -> Value
    ) async throws -> Value {
        do {
            return try await withTransaction(logger: logger) { db in try await body(db) }
        } catch let error as PostgresTransactionError {
            throw error.closureError ?? error.commitError ?? error.beginError ?? error
        }
    }
}
