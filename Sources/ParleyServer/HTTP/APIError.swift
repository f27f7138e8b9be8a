import Foundation
import HTTPTypes
import Hummingbird
import ParleyProtocol

/// An HTTP refusal with the contract's body: `{"error": {"code": "...", "message": "..."}}`.
struct APIError: HTTPResponseError {
    var status: HTTPResponse.Status
    var code: ErrorCode
    var message: String

    init(_ status: HTTPResponse.Status, _ code: ErrorCode, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    init(_ status: HTTPResponse.Status, _ error: ProtocolError) {
        self.init(status, error.code, error.message)
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: body))
    }

    /// The JSON error body.
    var body: ByteBuffer {
        let data = (try? JSONEncoder().encode(HTTPErrorBody(code: code, message: message))) ?? Data()
        return ByteBuffer(bytes: data)
    }

    static func notFound(_ message: String = "no such resource") -> APIError {
        APIError(.notFound, .notFound, message)
    }
}
