import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

extension RouterResponder where Context == ParleyRequestContext {
    /// Answers the HTTP requests of a socket with the router, as Hummingbird's `Application` would: each request
    /// with its own id in the log, an error the middleware did not turn into a response answered 500, and a
    /// `Date` on every response.
    func httpResponder(logger: Logger) -> HTTPChannelHandler.Responder {
        let dates = HTTPDate()
        return { request, writer, channel in
            var logger = logger
            logger[metadataKey: "hb.request.id"] = .stringConvertible(RequestID())
            let context = ParleyRequestContext(source: .init(channel: channel, logger: logger))
            var response: Response
            do {
                response = try await respond(to: request, context: context)
            } catch let error as HTTPParserError {
                // The connection is answered and closed by the HTTP side.
                throw error
            } catch {
                logger.debug("unanswered error", metadata: ["error": "\(error)"])
                response = Response(status: .internalServerError)
            }
            response.headers[.date] = dates.now()
            do {
                try await writer.write(response: response.head, body: response.body)
            } catch is HTTPParserError {
                // A body that streams the request's bytes met a malformed request half-way through the response:
                // the HTTP side would answer a parse error with a second response. End the connection instead.
                throw ResponseCutShort()
            }
        }
    }
}

/// A response could not be finished; its connection is closed.
struct ResponseCutShort: Error {}

/// The `Date` field of a response (RFC 9110 §6.6.1), formatted at most once a second.
final class HTTPDate: Sendable {
    private struct Cache {
        let formatter: DateFormatter
        var second = 0
        var text = ""
    }

    private let cache: Mutex<Cache>

    init() {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        cache = Mutex(Cache(formatter: formatter))
    }

    func now() -> String {
        let now = Date()
        let second = Int(now.timeIntervalSince1970)
        return cache.withLock { cache in
            if cache.second != second {
                cache.second = second
                cache.text = cache.formatter.string(from: now)
            }
            return cache.text
        }
    }
}
