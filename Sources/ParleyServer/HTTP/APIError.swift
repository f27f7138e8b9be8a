import Foundation
import HTTPTypes
import Hummingbird
import ParleyProtocol

/// An HTTP refusal with the contract's body: `{"error": {"code": "...", "message": "..."}}`.
struct APIError: HTTPResponseError {
    var status: HTTPResponse.Status
    var code: ErrorCode
    var message: String
    /// Sent with the error, e.g. `Retry-After`.
    var headers: HTTPFields

    init(_ status: HTTPResponse.Status, _ code: ErrorCode, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    init(_ status: HTTPResponse.Status, _ error: ProtocolError) {
        self.init(status, error.code, error.message)
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: body))
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
