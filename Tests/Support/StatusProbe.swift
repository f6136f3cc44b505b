import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Reads a child service's status endpoint (its port is in its start-up log line).
public struct StatusProbe: Sendable {
    public let port: Int

    /// Waits for the "status endpoint listening" log line and takes the port from it.
    public static func find(in child: ChildProcess, timeout: Duration = .seconds(20)) async throws -> StatusProbe {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            for line in child.output.split(separator: "\n") where line.contains("status endpoint listening") {
                if let address = line.split(separator: " ").first(where: { $0.hasPrefix("address=") }),
                    let port = Int(address.split(separator: ":").last ?? "")
                {
                    return StatusProbe(port: port)
                }
            }
            if !child.isRunning { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestSetupError("\(child.name) never reported its status port; output:\n\(child.output)")
    }

    public func get(_ path: String) async throws -> (status: Int, body: String) {
        let url = URL(string: "http://127.0.0.1:\(port)\(path)")!
        let (data, response) = try await URLSession.shared.data(from: url)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// Sum of a metric's samples (all label sets) in the Prometheus text.
    public func metric(_ name: String) async throws -> Double {
        let (_, body) = try await get("/metrics")
        return body.split(separator: "\n")
            .filter { $0.hasPrefix(name + "{") || $0.hasPrefix(name + " ") }
            .compactMap { Double($0.split(separator: " ").last ?? "") }
            .reduce(0, +)
    }

    public func waitUntilReady(timeout: Duration = .seconds(30)) async throws {
        let ready = await eventually(timeout: timeout) { ((try? await get("/readyz"))?.status ?? 0) == 200 }
        if !ready { throw TestSetupError("service on port \(port) never became ready: \((try? await get("/readyz"))?.body ?? "")") }
    }
}
