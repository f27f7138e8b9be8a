import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ParleyProtocol
import Synchronization

/// Uploading and serving files (§14).
struct FileRoutes {
    let configuration: ServerConfiguration
    let store: any MessageStore
    let files: any FileStore
    let metrics: FileMetrics
    /// For the room rules that posting a message obeys.
    let api: APIRoutes
    /// Bytes of uploads still arriving on this server, which `totalBytes()` does not see yet.
    let arriving = ArrivingBytes()

    func add(to router: Router<ParleyRequestContext>) {
        router.post("/api/rooms/{code}/files", use: upload)
        router.get("/files/{id}/{name}", use: serve)
        router.head("/files/{id}/{name}", use: serve)
        router.refuseOtherMethods("/api/rooms/{code}/files", allowed: [.post])
        router.refuseOtherMethods("/files/{id}/{name}", allowed: [.get])
    }

    /// Whether `path` is the upload route, whose raw body is exempt from the JSON-only rule of §6.
    static func isUpload(_ path: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 5 && parts[0].isEmpty && parts[1] == "api" && parts[2] == "rooms" && parts[4] == "files"
    }

    @Sendable func upload(_ request: Request, context: ParleyRequestContext) async throws -> EditedResponse<Attachment> {
        let code = try RoomCode.validate(context.parameters.get("code") ?? "")
        guard let room = try await store.room(code: code) else { throw APIError.notFound("no such room") }
        try await checkMayUpload(request, to: room, context: context)
        let name: String
        do {
            name = try FileRules.validateName(request.uri.queryParameters["name"].map(String.init) ?? "")
        } catch {
            metrics.refused(.badRequest)
            throw APIError(.badRequest, error)
        }
        let type = Self.mediaType(request.headers[.contentType])
        let maxFile = Int64(configuration.maxFileBytes)
        let maxRoom = Int64(configuration.maxRoomFileBytes)
        // Refused before a byte is read when the declared length already tells.
        let declared = request.headers[.contentLength].flatMap { Int64($0) }
        if let declared, declared > maxFile { throw refusal(.fileTooLarge) }
        let used = try await files.roomBytes(roomID: room.id)
        if used + (declared ?? 0) > maxRoom { throw refusal(.roomFull) }
        // The server-wide cap counts stored content plus every upload still arriving, this one included.
        let maxTotal = configuration.maxTotalFileBytes
        let stored = try await files.totalBytes()
        if stored + arriving.bytes + (declared ?? 0) > maxTotal { throw refusal(.serverFull) }

        let content = try await files.beginContent()
        var counted: Int64 = 0
        defer { arriving.remove(counted) }
        do {
            var hasher = Crypto.SHA256()
            var pending = ByteBuffer()
            var size: Int64 = 0
            var index = 0
            var dimensions: (width: Int, height: Int)?
            for try await part in request.body {
                size += Int64(part.readableBytes)
                if size > maxFile { throw FileRefusal.fileTooLarge }
                if used + size > maxRoom { throw FileRefusal.roomFull }
                counted += Int64(part.readableBytes)
                if stored + arriving.add(Int64(part.readableBytes)) > maxTotal { throw FileRefusal.serverFull }
                part.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                var part = part
                while part.readableBytes > 0 {
                    let take = min(part.readableBytes, FileChunking.chunkBytes - pending.readableBytes)
                    var slice = part.readSlice(length: take)!
                    pending.writeBuffer(&slice)
                    if pending.readableBytes == FileChunking.chunkBytes {
                        if index == 0 { dimensions = Self.dimensions(of: pending, type: type) }
                        try await files.writeChunk(content: content, index: index, bytes: pending)
                        index += 1
                        pending.clear()
                    }
                }
            }
            if pending.readableBytes > 0 || index == 0 {
                if index == 0 { dimensions = Self.dimensions(of: pending, type: type) }
                try await files.writeChunk(content: content, index: index, bytes: pending)
            }
            let hash = hasher.finalize().map { String($0, radix: 16).leftPadded(to: 2) }.joined()
            let upload = FileUpload(
                id: Self.newID(),
                roomID: room.id,
                name: name,
                type: type,
                size: size,
                hash: hash,
                width: dimensions?.width,
                height: dimensions?.height
            )
            let stored = try await files.finish(content: content, upload: upload, maxRoomBytes: maxRoom)
            metrics.uploads.increment()
            metrics.uploadedBytes.increment(by: Int64(size))
            var attachment = stored.attachment
            if let publicURL = configuration.publicURL { attachment.url = publicURL.base + attachment.url }
            return EditedResponse(status: .created, response: attachment)
        } catch let refused as FileRefusal {
            await files.abandon(content: content, bytes: counted)
            throw refusal(refused)
        } catch {
            await files.abandon(content: content, bytes: counted)
            throw error
        }
    }

    /// The room rules for posting a message (bans, `locked`, §12) apply to uploads too; `--auth required` and the
    /// rate limit are already taken by the middleware. Slow mode limits messages: an upload neither waits for
    /// the interval nor starts it, or the message that carries the file would be refused.
    private func checkMayUpload(_ request: Request, to room: RoomRecord, context: ParleyRequestContext) async throws {
        let poster = try await api.poster(of: request, context: context, in: room)
        try await api.checkRules(in: room, for: poster, upload: true)
    }

    private func refusal(_ reason: FileRefusal) -> APIError {
        let (status, message): (HTTPResponse.Status, String)
        switch reason {
        case .fileTooLarge:
            metrics.refused(.fileTooLarge)
            (status, message) = (.contentTooLarge, "the file is larger than \(configuration.maxFileBytes) bytes")
        case .roomFull:
            metrics.refused(.roomFull)
            (status, message) = (.contentTooLarge, "the room's files would exceed \(configuration.maxRoomFileBytes) bytes")
        case .serverFull:
            // Not the request's fault but the server's room: 507, with the contract's code for a file limit.
            metrics.refused(.serverFull)
            (status, message) = (Self.insufficientStorage, "the server holds all the files it may; try again later")
        }
        // The rest of a refused body is not read: the connection closes after the answer.
        return APIError(status, .tooLarge, message, headers: [.connection: "close"])
    }

    static let insufficientStorage = HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")

    @Sendable func serve(_ request: Request, context: ParleyRequestContext) async throws -> Response {
        guard let id = context.parameters.get("id"), let file = try await files.file(id: id), isServable(file) else {
            throw APIError.notFound("no such file")
        }
        let size = file.attachment.size
        let etag = "\"\(file.hash)\""
        var headers = Self.headers(for: file.attachment)
        headers[.eTag] = etag
        headers[.acceptRanges] = "bytes"
        if let match = request.headers[.ifNoneMatch],
            match.split(separator: ",").contains(where: {
                $0.trimmingCharacters(in: .whitespaces) == etag || $0.trimmingCharacters(in: .whitespaces) == "*"
            })
        {
            return Response(status: .notModified, headers: headers)
        }
        var status = HTTPResponse.Status.ok
        var lower: Int64 = 0
        var upper = size - 1
        switch ByteRange(header: request.headers[.range], size: size) {
        case .whole: break
        case .part(let from, let to):
            (status, lower, upper) = (.partialContent, from, to)
            headers[.contentRange] = "bytes \(from)-\(to)/\(size)"
        case .unsatisfiable:
            headers[.contentRange] = "bytes */\(size)"
            return Response(status: .rangeNotSatisfiable, headers: headers)
        }
        let length = size == 0 ? 0 : upper - lower + 1
        headers[.contentLength] = String(length)
        guard request.method == .get, length > 0 else { return Response(status: status, headers: headers) }
        let (files, content, chunkBytes, first, last) = (self.files, file.contentID, Int64(FileChunking.chunkBytes), lower, upper)
        let body = ResponseBody(contentLength: Int(length)) { writer in
            // One chunk in memory at a time, whatever the file's size.
            var offset = first
            while offset <= last {
                let index = Int(offset / chunkBytes)
                guard let chunk = try await files.chunk(content: content, index: index) else { throw APIError.notFound("no such file") }
                let start = Int(offset - Int64(index) * chunkBytes)
                let end = Int(min(last + 1 - Int64(index) * chunkBytes, Int64(chunk.readableBytes)))
                guard end > start, let part = chunk.getSlice(at: chunk.readerIndex + start, length: end - start) else { break }
                try await writer.write(part)
                offset += Int64(end - start)
            }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    /// A file no message carries is served only during the hour it may still be attached.
    private func isServable(_ file: StoredFile) -> Bool {
        file.messageID != nil || Timestamp.now().milliseconds - file.createdAt.milliseconds < configuration.unattachedFileLifetime.milliseconds
    }

    /// Every file answer says: never guess the type, never run anything (§14). Only the allowlisted types keep
    /// their own type and show inline; everything else (HTML and SVG included) is a download of opaque bytes.
    static func headers(for attachment: Attachment) -> HTTPFields {
        var headers = HTTPFields()
        let inline = ServedTypes.isInline(attachment.type)
        headers[.contentType] = inline ? attachment.type : "application/octet-stream"
        headers[.contentDisposition] = "\(inline ? "inline" : "attachment"); filename*=UTF-8''\(Self.percentEncoded(attachment.name))"
        headers[.xContentTypeOptions] = "nosniff"
        headers[.contentSecurityPolicy] = "sandbox; default-src 'none'"
        headers[.cacheControl] = "private, max-age=31536000, immutable"
        return headers
    }

    private static func percentEncoded(_ name: String) -> String {
        String(Attachment.path(id: "", name: name).dropFirst("/files//".count))
    }

    /// The media type as uploaded, lowercased and without parameters; missing or malformed: opaque bytes.
    static func mediaType(_ header: String?) -> String {
        guard let header else { return "application/octet-stream" }
        let type = header.prefix { $0 != ";" }.trimmingCharacters(in: .whitespaces).lowercased()
        let parts = type.split(separator: "/", omittingEmptySubsequences: false)
        let token = { (part: Substring) in
            !part.isEmpty && part.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && !"()<>@,;:\\\"/[]?={}".utf8.contains($0) }
        }
        guard type.utf8.count <= 127, parts.count == 2, token(parts[0]), token(parts[1]) else { return "application/octet-stream" }
        return type
    }

    private static func dimensions(of bytes: ByteBuffer, type: String) -> (width: Int, height: Int)? {
        guard type.hasPrefix("image/") else { return nil }
        return ImageHeader.size(of: bytes.readableBytesView)
    }

    /// 128 random bits as 32 lowercase hex digits.
    static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in String(generator.next() as UInt64, radix: 16).leftPadded(to: 16) }.joined()
    }
}

/// Bytes of uploads in progress, shared by every upload of this server.
final class ArrivingBytes: Sendable {
    private let count = Atomic<Int64>(0)

    var bytes: Int64 { count.load(ordering: .relaxed) }

    /// Adds `bytes` and returns the new total.
    func add(_ bytes: Int64) -> Int64 { count.wrappingAdd(bytes, ordering: .relaxed).newValue }

    func remove(_ bytes: Int64) { count.wrappingSubtract(bytes, ordering: .relaxed) }
}

/// The types served as themselves (§14).
enum ServedTypes {
    static let inline: Set<String> = ["image/png", "image/jpeg", "image/gif", "image/webp", "video/mp4", "video/webm", "text/plain"]

    static func isInline(_ type: String) -> Bool {
        inline.contains(type) || (type.hasPrefix("audio/") && FileRoutes.mediaType(type) == type)
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
