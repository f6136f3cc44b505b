import Foundation

/// A Postgres of a test's own, on a run directory and port of its own (scripts/devstack.sh
/// pg-start / pg-stop), for outage drills that must not touch the shared stack's server.
public struct OwnPostgres: Sendable {
    public let env: TestEnvironment
    public let runDirectory: String
    public let port: Int

    public init(env: TestEnvironment, name: String) throws {
        self.env = env
        runDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("novacron-\(name)-\(UUID().uuidString.prefix(8))").path
        port = try freeTCPPort()
    }

    /// `host:port/db?sslmode=disable` of this server.
    public var address: String { "127.0.0.1:\(port)/novacron?sslmode=disable" }

    /// The variables that point a service with role `role` at this server.
    public func urls(role: String) -> [String: String] {
        ["POSTGRES_ADMIN_URL": "postgres://novacron:novacron@\(address)", "POSTGRES_URL": "postgres://\(role):pw@\(address)"]
    }

    public func start() async throws { try await devstack("pg-start") }

    public func stop() async throws { try await devstack("pg-stop") }

    /// Stops everything of the run directory and removes it.
    public func remove() async throws {
        try await devstack("stop")
        try? FileManager.default.removeItem(atPath: runDirectory)
    }

    private func devstack(_ command: String) async throws {
        let run = try await ToolRun.run(
            "\(TestEnvironment.repositoryRoot)/scripts/devstack.sh", [command],
            environment: ["NOVACRON_RUN_DIR": runDirectory, "NOVACRON_PG_PORT": "\(port)", "NOVACRON_BIN": env.absoluteBinaries],
            timeout: .seconds(120))
        guard run.status == 0 else { throw TestSetupError("devstack.sh \(command) exited \(run.status): \(run.stderr)") }
    }
}
