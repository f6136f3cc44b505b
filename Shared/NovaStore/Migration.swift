import Logging
import PostgresNIO

/// One versioned change to a service's schema: statements run in order in one transaction.
/// SQL is written without a schema prefix: it runs with `search_path` set to the service's
/// schema. (Postgres' extended protocol takes one statement per query, hence the list.)
public struct Migration: Sendable, Hashable {
    public var version: Int
    public var name: String
    public var statements: [String]

    public init(version: Int, name: String, statements: [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }

    public init(version: Int, name: String, sql: String) {
        self.init(version: version, name: name, statements: [sql])
    }
}

/// Applies migrations in version order, each once, under a transaction-scoped advisory lock, so
/// two replicas starting together cannot both apply one: the second waits, then finds it done.
/// `component` namespaces versions, so NovaStore's own tables and the service's never collide.
public struct Migrator: Sendable {
    public let schema: SchemaName
    public let logger: Logger

    public init(schema: SchemaName, logger: Logger) {
        self.schema = schema
        self.logger = logger
    }

    /// Returns the versions applied by this call (empty when already up to date).
    @discardableResult
    public func migrate(
        _ migrations: [Migration], component: String, on client: PostgresClient
    ) async throws(StoreError) -> [Int] {
        let versions = migrations.map(\.version)
        guard Set(versions).count == versions.count else {
            throw StoreError(message: "duplicate migration versions in component \(component): \(versions)")
        }
        do {
            return try await client.withTransaction(logger: logger) { connection in
                try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \(schema.value)"), logger: logger)
                try await connection.query("SELECT pg_advisory_xact_lock(\(schema.lockKey("migrate")))", logger: logger)
                try await connection.query(
                    """
                    CREATE TABLE IF NOT EXISTS schema_migrations (
                      component text NOT NULL, version int NOT NULL, name text NOT NULL,
                      applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (component, version))
                    """, logger: logger)
                var applied = Set<Int>()
                for try await version in try await connection.query(
                    "SELECT version FROM schema_migrations WHERE component = \(component)", logger: logger
                ).decode(Int.self) {
                    applied.insert(version)
                }
                var done: [Int] = []
                for migration in migrations.sorted(by: { $0.version < $1.version }) where !applied.contains(migration.version) {
                    for statement in migration.statements {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query(
                        "INSERT INTO schema_migrations (component, version, name) VALUES (\(component), \(migration.version), \(migration.name))",
                        logger: logger)
                    logger.info("applied migration \(component)/\(migration.version) \(migration.name) to schema \(schema)")
                    done.append(migration.version)
                }
                return done
            }
        } catch {
            throw StoreError(error)
        }
    }
}
