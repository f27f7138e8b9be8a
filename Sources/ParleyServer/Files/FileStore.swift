import NIOCore
import ParleyProtocol

/// A stored file (§14) as the file route serves it.
struct StoredFile: Sendable, Hashable {
    var attachment: Attachment
    var roomID: Int64
    /// Where its bytes are: chunks `0..<` of this content, ``FileChunking/chunkBytes`` each but the last.
    var contentID: Int64
    /// SHA-256 of the bytes, lowercase hex: the `ETag`.
    var hash: String
    /// Nil until a message carries it.
    var messageID: Int64?
    var createdAt: Timestamp
}

/// The metadata of an upload whose bytes are all written.
struct FileUpload: Sendable {
    var id: String
    var roomID: Int64
    var name: String
    var type: String
    var size: Int64
    var hash: String
    var width: Int?
    var height: Int?

    /// The file this upload becomes once its row is written, before any message carries it.
    func stored(contentID: Int64, at createdAt: Timestamp) -> StoredFile {
        StoredFile(
            attachment: Attachment(id: id, name: name, type: type, size: size, width: width, height: height),
            roomID: roomID,
            contentID: contentID,
            hash: hash,
            messageID: nil,
            createdAt: createdAt
        )
    }
}

/// Files in the same database as the messages (§14): content in fixed-size chunks, each written in its own short
/// transaction, so that an upload never holds the database for long nor a whole file in memory; identical content
/// is kept once.
protocol FileStore: Sendable {
    /// Bytes of the files a room holds (each file counted, even when its content is shared).
    func roomBytes(roomID: Int64) async throws -> Int64
    /// Starts the content of a new upload; its chunks follow with ``writeChunk(content:index:bytes:)``.
    func beginContent() async throws -> Int64
    func writeChunk(content: Int64, index: Int, bytes: ByteBuffer) async throws
    /// Records the file, keeping the content once (an equal content already stored is used instead and this one
    /// dropped). Throws ``FileRefusal/roomFull`` when the room's files would then exceed `maxRoomBytes`.
    func finish(content: Int64, upload: FileUpload, maxRoomBytes: Int64) async throws -> StoredFile
    /// Drops the content of an upload that did not finish, after `bytes` of it were received (at most that many
    /// written): they count against the server's cap (``totalBytes()``) until the sweep deletes them.
    func abandon(content: Int64, bytes: Int64) async
    /// The file with this id, or nil.
    func file(id: String) async throws -> StoredFile?
    /// One chunk of a content.
    func chunk(content: Int64, index: Int) async throws -> ByteBuffer?
    /// Deletes files no message carries that were uploaded before `cutoff`, and content no file uses (or whose
    /// upload began before `cutoff` and never finished). Returns the bytes of content left.
    func sweep(unattachedBefore cutoff: Timestamp) async throws -> Int64
    /// Deletes every file of a room (its deletion, §12); the content goes with the next sweep.
    func eraseFiles(room roomID: Int64) async throws
    /// Bytes of finished file content the server holds (shared content counted once), for the server-wide cap.
    func totalBytes() async throws -> Int64
}

enum FileChunking {
    /// Large enough that a 100 MB file is a few hundred rows; small enough that writing one holds the SQLite writer
    /// only briefly.
    static let chunkBytes = 256 * 1024
}

/// Why an upload is refused (beyond the edge checks of ``RequestGuardMiddleware``).
enum FileRefusal: Error, Equatable {
    case fileTooLarge
    case roomFull
    /// `--max-total-file-bytes` would be passed.
    case serverFull
}
