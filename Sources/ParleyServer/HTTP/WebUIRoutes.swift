import Foundation
import HTTPTypes
import Hummingbird
import ParleyProtocol

/// The web UI: `/` and the invite links `/r/{code}` serve the page; its assets come from `Public/`.
struct WebUIRoutes {
    let publicFolder: String
    let indexPage: ByteBuffer
    let pageHeaders: HTTPFields

    /// `embedOrigins`: the pages that may frame the UI (`--embed-origin`); none by default.
    init(embedOrigins: [String] = []) throws {
        guard let resources = Bundle.module.resourcePath else {
            throw MissingResources()
        }
        publicFolder = resources + "/Public"
        indexPage = ByteBuffer(bytes: try Data(contentsOf: URL(fileURLWithPath: publicFolder + "/index.html")))
        pageHeaders = Self.pageHeaders(embedOrigins: embedOrigins)
    }

    func add(to router: Router<ParleyRequestContext>) {
        router.get("/") { _, _ in page }
        router.get("/r/{code}") { _, _ in page }
        router.refuseOtherMethods("/", allowed: [.get])
        router.refuseOtherMethods("/r/{code}", allowed: [.get])
    }

    private var page: Response {
        Response(status: .ok, headers: pageHeaders, body: .init(byteBuffer: indexPage))
    }

    /// No inline script, nothing from elsewhere: the page talks only to its own origin, and only the named
    /// origins may frame it.
    static func pageHeaders(embedOrigins: [String]) -> HTTPFields {
        let ancestors = embedOrigins.isEmpty ? "'none'" : embedOrigins.joined(separator: " ")
        return [
            .contentType: "text/html; charset=utf-8",
            .contentSecurityPolicy:
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors \(ancestors); form-action 'self'",
            .cacheControl: "no-cache",
            HTTPField.Name("X-Content-Type-Options")!: "nosniff",
            HTTPField.Name("Referrer-Policy")!: "no-referrer",
        ]
    }

    /// Static assets, revalidated on every load (answered 304 while unchanged): the UI's modules import
    /// each other, and a cached old module beside a new one would break the page after an upgrade.
    var fileMiddleware: FileMiddleware<ParleyRequestContext, LocalFileSystem> {
        FileMiddleware(publicFolder, cacheControl: CacheControl([(MediaType(type: .any), [.noCache])]), searchForIndexHtml: false)
    }
}

/// The build has no `Public/` resource bundle next to the executable.
struct MissingResources: Error, CustomStringConvertible {
    var description: String { "the web UI resources are missing from the build" }
}
