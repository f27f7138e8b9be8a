import Foundation
import ParleyProtocol

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The few HTTP calls a client makes: `POST /api/rooms`, and a plain `GET /ws` that reads why an upgrade
/// was refused (the server answers refusals with a JSON error body before upgrading).
public struct ParleyAPI: Sendable {
    public let endpoint: ChatEndpoint
    /// Seconds to wait for an answer.
    public var timeout: TimeInterval = 10
    /// Sent as `Authorization: Bearer` with the calls that change state: a room key (§12) or a signed identity
    /// token (§13), which a server under `--auth required` insists on and a locked room asks of an uploader.
    public var bearer: String?

    public init(endpoint: ChatEndpoint) {
        self.endpoint = endpoint
    }

    /// `POST /api/rooms`: returns the created room and the server's JSON answer as sent.
    public func createRoom(name: String?) async throws(ChatClientError) -> (room: CreatedRoom, json: String) {
        var request = URLRequest(url: try url(endpoint.httpBase + "/api/rooms"), timeoutInterval: timeout)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        authorize(&request)
        let body: [String: String?] = ["name": name]
        request.httpBody = try? JSONEncoder().encode(body)
        let (status, data) = try await send(request)
        guard status == 201 || status == 200 else { throw Self.refusal(status: status, body: data) }
        guard let room = try? JSONDecoder().decode(CreatedRoom.self, from: data) else {
            throw ChatClientError(kind: .unreachable, message: "\(endpoint.httpBase) answered something that is not a Parley room")
        }
        return (room, String(decoding: data, as: UTF8.self))
    }

    /// `GET /api/rooms/{code}/search` (§15): messages containing every word of `query`, newest first.
    public func search(room: String, query: String, limit: Int = 20) async throws(ChatClientError) -> (messages: [ChatMessage], hasMore: Bool) {
        var components = URLComponents()
        components.queryItems = [URLQueryItem(name: "q", value: query), URLQueryItem(name: "limit", value: String(limit))]
        // URLComponents leaves `+` alone, which a server reads as a space.
        let encoded = (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
        let path = "/api/rooms/\(room)/search?\(encoded)"
        let (status, data) = try await send(URLRequest(url: try url(endpoint.httpBase + path), timeoutInterval: timeout))
        guard status == 200 else { throw Self.refusal(status: status, body: data) }
        guard let page = try? JSONDecoder().decode(MessagePage.self, from: data) else {
            throw ChatClientError(kind: .unreachable, message: "\(endpoint.httpBase) answered a search with something that is not a page of messages")
        }
        return (page.messages, page.hasMore)
    }

    /// `POST /api/rooms/{code}/files` (§14): uploads the file at `path`, streamed from disk, calling `progress` with
    /// the bytes sent so far and the total; returns the stored file.
    public func upload(
        room: String,
        path: String,
        name: String? = nil,
        progress: @escaping @Sendable (Int64, Int64) -> Void
    ) async throws(ChatClientError) -> Attachment {
        let file = URL(fileURLWithPath: path)
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw ChatClientError(kind: .usage, message: "cannot read \(path)")
        }
        var components = URLComponents()
        components.queryItems = [URLQueryItem(name: "name", value: name ?? file.lastPathComponent)]
        let query = (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
        var request = URLRequest(url: try url(endpoint.httpBase + "/api/rooms/\(room)/files?\(query)"), timeoutInterval: 3600)
        request.httpMethod = "POST"
        request.setValue(Self.mediaType(of: file), forHTTPHeaderField: "Content-Type")
        authorize(&request)
        // Foundation on Linux does not report the bytes sent of a task with a completion handler: the first and last
        // reports are made here, whatever the platform adds between them.
        let total = ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? NSNumber)?.int64Value ?? 0
        progress(0, total)
        let reporter = UploadProgress(progress)
        let session = URLSession(configuration: .ephemeral, delegate: reporter, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        let (status, data): (Int, Data)
        do {
            (status, data) = try await withCheckedThrowingContinuation { continuation in
                session.uploadTask(with: request, fromFile: file) { data, response, error in
                    if let error {
                        continuation.resume(throwing: error)
                    } else {
                        continuation.resume(returning: ((response as? HTTPURLResponse)?.statusCode ?? 0, data ?? Data()))
                    }
                }.resume()
            }
        } catch {
            throw ChatClientError(kind: .unreachable, message: "cannot reach \(endpoint.httpBase): \(error.localizedDescription)")
        }
        guard status == 201 else { throw Self.refusal(status: status, body: data) }
        progress(total, total)
        guard let attachment = try? JSONDecoder().decode(Attachment.self, from: data) else {
            throw ChatClientError(kind: .unreachable, message: "\(endpoint.httpBase) answered an upload with something that is not a file")
        }
        return attachment
    }

    private func authorize(_ request: inout URLRequest) {
        if let bearer { request.setValue("Bearer \(bearer)", forHTTPHeaderField: "Authorization") }
    }

    /// A type for the upload from the file's extension; the server serves unknown ones as downloads anyway.
    static func mediaType(of file: URL) -> String {
        let types = [
            "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp",
            "txt": "text/plain", "mp4": "video/mp4", "webm": "video/webm", "mp3": "audio/mpeg", "ogg": "audio/ogg",
            "pdf": "application/pdf", "zip": "application/zip",
        ]
        return types[file.pathExtension.lowercased()] ?? "application/octet-stream"
    }

    private final class UploadProgress: NSObject, URLSessionTaskDelegate, Sendable {
        let report: @Sendable (Int64, Int64) -> Void

        init(_ report: @escaping @Sendable (Int64, Int64) -> Void) { self.report = report }

        func urlSession(
            _ session: URLSession,
            task: URLSessionTask,
            didSendBodyData bytesSent: Int64,
            totalBytesSent: Int64,
            totalBytesExpectedToSend: Int64
        ) {
            report(totalBytesSent, totalBytesExpectedToSend)
        }
    }

    private struct MessagePage: Decodable {
        var messages: [ChatMessage]
        var hasMore: Bool

        enum CodingKeys: String, CodingKey {
            case messages
            case hasMore = "has_more"
        }
    }

    /// Why `GET /ws?…` is refused, read without asking for an upgrade.
    public func refusal(forWebSocketQuery query: [(String, String)]) async -> ChatClientError {
        do {
            var request = URLRequest(url: try url(endpoint.httpURL(forWebSocketQuery: query)), timeoutInterval: timeout)
            // The same Origin as the WebSocket client sends, so that an origin refusal shows up here too.
            request.setValue("\(endpoint.webSocketScheme)://\(endpoint.host)", forHTTPHeaderField: "Origin")
            let (status, data) = try await send(request)
            return Self.refusal(status: status, body: data)
        } catch {
            return error
        }
    }

    /// The error for an HTTP answer with status `status`, using its `{"error": {"code", "message"}}` body when present.
    static func refusal(status: Int, body: Data) -> ChatClientError {
        if let answer = try? JSONDecoder().decode(HTTPErrorBody.self, from: body) {
            return ChatClientError(kind: .refused(status: status), code: answer.error.code, message: answer.error.message)
        }
        return ChatClientError(kind: .refused(status: status), message: "the server answered HTTP \(status)")
    }

    private func url(_ string: String) throws(ChatClientError) -> URL {
        guard let url = URL(string: string) else { throw .invalidURL(string, "not a URL") }
        return url
    }

    private func send(_ request: URLRequest) async throws(ChatClientError) -> (Int, Data) {
        do {
            let (data, response) = try await URLSession.shared.data(for: request)
            guard let http = response as? HTTPURLResponse else {
                throw ChatClientError(kind: .unreachable, message: "no HTTP answer from \(endpoint.httpBase)")
            }
            return (http.statusCode, data)
        } catch let error as ChatClientError {
            throw error
        } catch {
            throw ChatClientError(kind: .unreachable, message: "cannot reach \(endpoint.httpBase): \(error.localizedDescription)")
        }
    }
}
