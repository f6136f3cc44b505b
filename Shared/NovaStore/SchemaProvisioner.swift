import Logging
import PostgresNIO

/// Creates a service's login role and schema with an administrator's connection, so that the
/// role owns its schema and can reach nothing else: no grants on other schemas, `public`
/// closed to it, its `search_path` pinned to its own schema.
///
/// Idempotent, and serialised with an advisory lock so replicas may all run it at start.
/// In production a DBA or operator (e.g. CloudNativePG) may do the same instead.
public struct SchemaProvisioner: Sendable {
    public let admin: PostgresSettings
    public let logger: Logger

    public init(admin: PostgresSettings, logger: Logger) {
        self.admin = admin
        self.logger = logger
    }

    public func provision(schema: SchemaName, password: String) async throws(StoreError) {
        let role = schema.role
        let quotedPassword = "'" + password.replacingOccurrences(of: "'", with: "''") + "'"
        let statements = [
            """
            DO $$ BEGIN
              IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '\(role)') THEN
                CREATE ROLE \(role) LOGIN PASSWORD \(quotedPassword) NOSUPERUSER NOCREATEDB NOCREATEROLE;
              END IF;
            END $$
            """,
            "ALTER ROLE \(role) WITH LOGIN PASSWORD \(quotedPassword)",
            "CREATE SCHEMA IF NOT EXISTS \(schema.value) AUTHORIZATION \(role)",
            "ALTER SCHEMA \(schema.value) OWNER TO \(role)",
            "REVOKE ALL ON SCHEMA \(schema.value) FROM PUBLIC",
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
            "ALTER ROLE \(role) SET search_path = \(schema.value)",
            "GRANT CONNECT ON DATABASE \"\(admin.database)\" TO \(role)",
        ]
        do {
            let connection = try await PostgresConnection.connect(
                configuration: try admin.connectionConfiguration(), id: 1, logger: logger)
            defer { Task { try? await connection.close() } }
            try await connection.query("SELECT pg_advisory_lock(\(SchemaName.provisioningLock))", logger: logger)
            do {
                for statement in statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(SchemaName.provisioningLock))", logger: logger)
                throw error
            }
            try await connection.query("SELECT pg_advisory_unlock(\(SchemaName.provisioningLock))", logger: logger)
            logger.info("provisioned schema \(schema) for role \(role)")
        } catch {
            throw StoreError(error, connectingTo: admin)
        }
    }

    /// Drops `schema` with everything in it, and its role: for benches and tests that made
    /// their own, so old ones do not pile up (every table left behind is one more for
    /// autovacuum to visit). The role's sessions must have ended.
    public func drop(schema: SchemaName) async throws(StoreError) {
        do {
            let connection = try await PostgresConnection.connect(
                configuration: try admin.connectionConfiguration(), id: 1, logger: logger)
            defer { Task { try? await connection.close() } }
            let exists = try await connection.query("SELECT 1 FROM pg_roles WHERE rolname = \(schema.role)", logger: logger)
            var found = false
            for try await _ in exists { found = true }
            if found {
                // DROP OWNED takes the schema and its objects, and the role's grants with them.
                try await connection.query(PostgresQuery(unsafeSQL: "DROP OWNED BY \(schema.role) CASCADE"), logger: logger)
                try await connection.query(PostgresQuery(unsafeSQL: "DROP ROLE \(schema.role)"), logger: logger)
            }
            try await connection.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(schema.value) CASCADE"), logger: logger)
            logger.info("dropped schema \(schema) and role \(schema.role)")
        } catch {
            throw StoreError(error, connectingTo: admin)
        }
    }
}

extension SchemaName {
    /// The advisory lock serialising role and schema creation across every service.
    static let provisioningLock: Int64 = 0x4e4f_5641_5052_4f56
}
