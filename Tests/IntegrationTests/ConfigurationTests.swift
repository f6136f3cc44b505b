import Foundation
import NovaTestSupport
import Logging
import NovaService
import NovaStore
import Testing

/// Bad configuration makes a service exit quickly with a message that names the problem.
@Suite(.serialized) struct ConfigurationTests {
    private func run(_ env: TestEnvironment, _ fixture: FixtureDeployment, _ changes: [String: String?]) async throws -> (Int32?, String, Duration) {
        var environment = fixture.environment()
        for (key, value) in changes { environment[key] = value }
        var clean = ProcessInfo.processInfo.environment
        for key in ["KAFKA_BROKERS", "POSTGRES_URL", "POSTGRES_ADMIN_URL"] { clean[key] = nil }
        for (key, value) in environment { clean[key] = value }
        for (key, value) in changes where value == nil { clean[key] = nil }
        let started = ContinuousClock.now
        let child = try ChildProcess(binary: "\(env.binaries)/NovaFixtureService", name: "config", environment: [:], replacing: clean)
        let code = await child.wait(timeout: .seconds(40))
        await child.stop()
        return (code, child.output, ContinuousClock.now - started)
    }

    @Test func unreachableBrokerFailsFastWithAClearError() async throws {
        let env = try TestEnvironment.current()
        let fixture = try FixtureDeployment(env: env, name: "cfgkafka", partitions: 1)
        let (code, output, elapsed) = try await run(
            env, fixture, ["KAFKA_BROKERS": "127.0.0.1:1", "NOVACRON_STARTUP_TIMEOUT_SECONDS": "3"])
        #expect(code == 1)
        #expect(output.contains("no Kafka broker reachable at 127.0.0.1:1"), "\(output)")
        #expect(!output.contains("Fatal error"))
        #expect(elapsed < .seconds(30))
    }

    @Test func wrongPostgresPasswordFailsWithAClearError() async throws {
        let env = try TestEnvironment.current()
        let fixture = try FixtureDeployment(env: env, name: "cfgpg", partitions: 1)
        try await SchemaProvisioner(admin: env.admin, logger: Logger(label: "t")).provision(
            schema: try SchemaName(fixture.schema), password: "right")
        let port = env.admin.port
        let (code, output, _) = try await run(
            env, fixture,
            [
                "POSTGRES_ADMIN_URL": nil,
                "POSTGRES_URL": "postgres://\(fixture.role):wrong@127.0.0.1:\(port)/\(env.admin.database)?sslmode=disable",
            ])
        #expect(code == 1)
        #expect(output.contains("Postgres authentication failed for user '\(fixture.role)'"), "\(output)")
        #expect(!output.contains("wrong"), "the password is never printed")
    }

    @Test(arguments: [
        ("KAFKA_NOT_A_PROPERTY", "1", "not.a.property"),
        ("KAFKA_ACKS", "banana", "acks"),
        ("KAFKA_BROKERS", "no-port-here", "KAFKA_BROKERS"),
        ("POSTGRES_URL", "mysql://x@y/z", "POSTGRES_URL"),
        ("HTTP_PORT", "eighty", "HTTP_PORT"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL"),
        ("NOVACRON_STARTUP_TIMEOUT_SECONDS", "0", "NOVACRON_STARTUP_TIMEOUT_SECONDS"),
        ("NOVACRON_INBOX_RETENTION_HOURS", "-3", "NOVACRON_INBOX_RETENTION_HOURS"),
        ("NOVACRON_SCHEMA", "Bad-Name", "NOVACRON_SCHEMA"),
    ])
    func malformedValuesExitWithCode2NamingTheVariable(variable: String, value: String, mention: String) async throws {
        let env = try TestEnvironment.current()
        let fixture = try FixtureDeployment(env: env, name: "cfg", partitions: 1)
        let (code, output, elapsed) = try await run(env, fixture, [variable: value])
        #expect(code == 2, "\(output)")
        #expect(output.contains(mention), "\(output)")
        #expect(output.contains("configuration error"))
        #expect(elapsed < .seconds(15))
    }

    @Test func missingRequiredVariablesExitWithCode2() async throws {
        let env = try TestEnvironment.current()
        let fixture = try FixtureDeployment(env: env, name: "cfgmissing", partitions: 1)
        for variable in ["KAFKA_BROKERS", "POSTGRES_URL"] {
            let (code, output, _) = try await run(env, fixture, [variable: nil])
            #expect(code == 2)
            #expect(output.contains("\(variable)"), "\(output)")
        }
    }
}
