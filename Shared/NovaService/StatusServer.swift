import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// `/healthz` (the process is up), `/readyz` (Kafka, Postgres and migrations are fine; 503
/// with the reasons otherwise) and `/metrics` (Prometheus text) over plain HTTP/1.1.
public final class StatusServer: Service, Sendable {
    private let host: String
    private let port: Int
    private let readiness: Readiness
    private let metrics: ServiceMetrics
    private let logger: Logger
    private let bound = Mutex<Int?>(nil)

    public init(host: String, port: Int, readiness: Readiness, metrics: ServiceMetrics, logger: Logger) {
        self.host = host
        self.port = port
        self.readiness = readiness
        self.metrics = metrics
        self.logger = logger
    }

    /// The port actually bound (useful with port 0), once running.
    public var boundPort: Int? { bound.withLock { $0 } }

    public func run() async throws {
        let readiness = readiness
        let metrics = metrics
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(StatusHTTPHandler(readiness: readiness, metrics: metrics))
                }
            }
            .bind(host: host, port: port).get()
        let actual = channel.localAddress?.port ?? port
        bound.withLock { $0 = actual }
        logger.info("status endpoint listening", metadata: ["address": "\(host):\(actual)"])
        try? await gracefulShutdown()
        try? await channel.close()
    }
}

/// Answers one status request per HTTP request on a connection.
final class StatusHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let readiness: Readiness
    private let metrics: ServiceMetrics
    private var request: HTTPRequestHead?

    init(readiness: Readiness, metrics: ServiceMetrics) {
        self.readiness = readiness
        self.metrics = metrics
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break
        case .end:
            guard let head = request else { return }
            request = nil
            let (status, contentType, body) = respond(to: head)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: contentType)
            headers.add(name: "Content-Length", value: String(body.count))
            if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
            let keepAlive = head.isKeepAlive
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { channel.close(promise: nil) }
            }
        }
    }

    private func respond(to head: HTTPRequestHead) -> (HTTPResponseStatus, String, [UInt8]) {
        guard head.method == .GET || head.method == .HEAD else {
            return (.methodNotAllowed, "text/plain", Array("only GET\n".utf8))
        }
        switch head.uri.split(separator: "?").first.map(String.init) ?? head.uri {
        case "/healthz":
            return (.ok, "text/plain", Array("ok\n".utf8))
        case "/readyz":
            let problems = readiness.problems
            if problems.isEmpty { return (.ok, "text/plain", Array("ready\n".utf8)) }
            let text = problems.map { "\($0.0.rawValue): \($0.1)" }.joined(separator: "\n") + "\n"
            return (.serviceUnavailable, "text/plain", Array(text.utf8))
        case "/metrics":
            return (.ok, "text/plain; version=0.0.4", metrics.exposition())
        default:
            return (.notFound, "text/plain", Array("not found: try /healthz, /readyz or /metrics\n".utf8))
        }
    }
}
