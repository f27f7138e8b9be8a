import Hummingbird
import NIOCore
import ParleyProtocol

/// Turns every error that reaches the top into the contract's JSON error body.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            switch error.status {
            case .notFound: throw APIError.notFound()
            case .contentTooLarge: throw APIError(.contentTooLarge, .tooLarge, "request body is too large")
            case .methodNotAllowed: throw APIError(.methodNotAllowed, .badRequest, "method not allowed")
            case .serviceUnavailable: throw APIError(.serviceUnavailable, .unavailable, error.body ?? "unavailable")
            default: throw APIError(error.status, .badRequest, error.body ?? "bad request")
            }
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, .tooLarge, "request body is too large")
        } catch let error as ProtocolError {
            throw APIError(.badRequest, error)
        } catch is DecodingError {
            throw APIError(.badRequest, .badRequest, "request body is not the expected JSON")
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            throw APIError(.internalServerError, .unavailable, "internal error")
        }
    }
}
