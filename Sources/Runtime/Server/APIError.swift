import Foundation
import Hummingbird

/// An error the API answers with: an HTTP status, a stable machine-readable code, and
/// one sentence saying what went wrong and what to do, as
/// `{"success":false,"error":"<sentence>","code":"<code>"}`.
struct APIError: Error {
    var status: HTTPResponse.Status
    var code: String
    var message: String

    static func badRequest(_ message: String, code: String = "bad_request") -> APIError {
        APIError(status: .badRequest, code: code, message: message)
    }

    init(status: HTTPResponse.Status, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    init(_ error: EngineCallError) {
        switch error {
        case let .timeout(text): self.init(status: .serviceUnavailable, code: "timeout", message: text)
        case let .outcomeUnknown(text): self.init(status: .gatewayTimeout, code: "outcome_unknown", message: text)
        case let .busy(text): self.init(status: .serviceUnavailable, code: "busy", message: text)
        case let .stopped(text): self.init(status: .serviceUnavailable, code: "node_stopped", message: text)
        case let .badRequest(text): self.init(status: .badRequest, code: "bad_request", message: text)
        }
    }

    var response: Response {
        ServerMetrics.error(code: code)
        return JSONResponse.make(["success": false, "error": message, "code": code], status: status)
    }
}

enum JSONResponse {
    /// JSON text built by hand (the hot paths: an entry).
    static func text(_ json: String, status: HTTPResponse.Status = .ok) -> Response {
        var buffer = ByteBuffer()
        buffer.writeString(json)
        buffer.writeString("\n")
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }

    static func make(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{\"success\":false,\"error\":\"the response could not be encoded\",\"code\":\"internal\"}".utf8)
        var buffer = ByteBuffer()
        buffer.writeBytes(data)
        buffer.writeString("\n")
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }
}

/// Turns every error a handler throws — and unknown routes, oversized bodies — into the
/// API's JSON error shape. Nothing a client sends reaches it as a crash.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response
        } catch let error as EngineCallError {
            return APIError(error).response
        } catch let error as any HTTPResponseError {
            switch error.status {
            case .notFound:
                return APIError(status: .notFound, code: "unknown_route",
                    message: "there is no route \(request.method) \(request.uri.path); the API is described at /api/v1/openapi.yaml").response
            case .contentTooLarge:
                return APIError(status: .contentTooLarge, code: "body_too_large",
                    message: "the request body is larger than this server accepts; send less data per request").response
            case .methodNotAllowed:
                return APIError(status: .methodNotAllowed, code: "method_not_allowed",
                    message: "\(request.method) is not allowed on \(request.uri.path); the API is described at /api/v1/openapi.yaml").response
            default:
                return APIError(status: error.status, code: "http_\(error.status.code)",
                    message: "the request failed with \(error.status.code) \(error.status.reasonPhrase)").response
            }
        } catch {
            return APIError(status: .internalServerError, code: "internal",
                message: "an internal error occurred (\(error)); the node keeps serving — please report it").response
        }
    }
}

/// Counts every request and times it, by route (the matched path pattern, so keys do
/// not become labels) and status.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        ServerMetrics.request(method: request.method.rawValue, route: context.endpointPath ?? "unmatched",
                              status: response.status.code, seconds: seconds)
        return response
    }
}
