import NIOCore
import Logging
import PostgresNIO

/// A service's view of Postgres: its own schema, reached through its own role.
///
/// `prepare()` applies NovaStore's tables (inbox, outbox) and then the service's migrations.
/// Handlers work through `withTransaction`, whose `StoreTransaction` has the inbox, the outbox
/// and plain queries, all committed together.
public final class Store: Sendable {
    public let client: PostgresClient
    public let schema: SchemaName
    public let settings: PostgresSettings
    let logger: Logger

    /// Builds the client; run `client.run()` (or list `client` first in a ServiceGroup).
    public init(settings: PostgresSettings, schema: SchemaName, logger: Logger) {
        self.settings = settings
        self.schema = schema
        self.logger = logger
        var configuration = settings.clientConfiguration
        // Every connection of the pool starts in the schema, so a transaction need not set it
        // (a round trip per transaction). JIT off: a batch statement over arrays of a few
        // hundred ids is estimated past jit_above_cost (the planner guesses badly for tables
        // that fill faster than statistics follow) and then spends 10-15 ms compiling for a
        // query that runs in one; no statement of these services gains from it.
        // random_page_cost 1.1: a service's tables are small and hot, so an index probe costs
        // a buffer hit, not the disk seek the default 4 prices. At 4 a batch claim over 50 of
        // 1,000 hosts hashed the whole table (0.9 ms); at 1.1 it probes the key (0.45 ms).
        // idle_in_transaction_session_timeout: a replica stopped (SIGSTOP, a long pause) inside
        // a transaction would keep its row locks and leases for as long as it stays stopped;
        // Postgres ends such a transaction after 20 s, so the replica taking over is not blocked.
        configuration.options.additionalStartupParameters = [
            ("search_path", schema.value), ("jit", "off"), ("random_page_cost", "1.1"),
            ("idle_in_transaction_session_timeout", "20s"),
        ]
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
    }

    /// Connects once with a plain connection to fail fast with a clear message (wrong password,
    /// unknown database, unreachable server) instead of waiting on the pool.
    public static func checkConnection(_ settings: PostgresSettings, logger: Logger) async throws(StoreError) {
        do {
            let connection = try await PostgresConnection.connect(
                configuration: try settings.connectionConfiguration(), id: 0, logger: logger)
            try await connection.close()
        } catch {
            throw StoreError(error, connectingTo: settings)
        }
    }

    /// Applies NovaStore's own migrations, then `migrations` (component = the schema name).
    public func prepare(migrations: [Migration]) async throws(StoreError) {
        let migrator = Migrator(schema: schema, logger: logger)
        try await migrator.migrate(Self.platformMigrations, component: "novastore", on: client)
        try await migrator.migrate(migrations, component: schema.value, on: client)
    }

    /// Runs `body` in one transaction (in this schema: the pool's connections start with it as
    /// their `search_path`); commits if it returns, rolls back if it throws.
    public func withTransaction<T: Sendable>(_ body: (StoreTransaction) async throws -> T) async throws -> T {
        let logger = logger
        let schema = schema
        return try await client.withTransaction(logger: logger) { connection in
            try await body(StoreTransaction(connection: connection, schema: schema, logger: logger))
        }
    }

    /// Runs a query outside a transaction (health checks, metrics).
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresRowSequence {
        try await client.query(query, logger: logger)
    }

    /// Inbox and outbox: the tables every service has; leases, partition ownership and timers,
    /// which the runtime uses when a service asks for them.
    static let platformMigrations = [
        Migration(
            version: 1, name: "inbox",
            sql: """
                CREATE TABLE inbox (
                  event_id text PRIMARY KEY,
                  event_type text NOT NULL,
                  source_topic text NOT NULL,
                  source_partition int NOT NULL,
                  source_offset bigint NOT NULL,
                  received_at timestamptz NOT NULL DEFAULT now())
                """),
        Migration(
            version: 2, name: "outbox",
            statements: [
                """
                CREATE TABLE outbox (
                  seq bigserial PRIMARY KEY,
                  event_id text NOT NULL UNIQUE,
                  topic text NOT NULL,
                  key text NOT NULL,
                  event_type text NOT NULL,
                  envelope bytea NOT NULL,
                  created_at timestamptz NOT NULL DEFAULT now(),
                  published_at timestamptz)
                """,
                "CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL",
            ]),
        // The relay deletes what Kafka acknowledged instead of marking it: an update rewrote
        // the whole row and its index entries, the costliest statement per event. The topic
        // is the record of what was published. Event ids are fresh UUIDs, unique by making.
        Migration(
            version: 3, name: "outbox holds only unpublished records",
            statements: [
                "DELETE FROM outbox WHERE published_at IS NOT NULL",
                "DROP INDEX outbox_unpublished",
                "ALTER TABLE outbox DROP CONSTRAINT outbox_event_id_key",
                "ALTER TABLE outbox DROP COLUMN published_at",
            ]),
        // Time and ownership (ARCHITECTURE.md): a lease's epoch grows whenever its holder
        // changes; a partition's epoch whenever a replica claims it. Deadlines are per key
        // (one per name and key), their partition the key's; due times are the injected
        // clock's milliseconds, not the server's time.
        Migration(
            version: 4, name: "leases, partition owners and timers",
            statements: [
                """
                CREATE TABLE leases (
                  name text PRIMARY KEY, holder text NOT NULL, epoch bigint NOT NULL,
                  acquired_at timestamptz NOT NULL DEFAULT now())
                """,
                """
                CREATE TABLE partition_owners (
                  partition int PRIMARY KEY, owner text NOT NULL, epoch bigint NOT NULL,
                  claimed_at timestamptz NOT NULL DEFAULT now())
                """,
                """
                CREATE TABLE deadlines (
                  name text NOT NULL, key text NOT NULL, partition int NOT NULL, due_ms bigint NOT NULL,
                  payload bytea NOT NULL DEFAULT '', PRIMARY KEY (name, key))
                """,
                "CREATE INDEX deadlines_due ON deadlines (partition, due_ms)",
                "CREATE TABLE ticks (name text PRIMARY KEY, period_ms bigint NOT NULL, next_ms bigint NOT NULL)",
            ]),
    ]
}

/// One open transaction of a handler: inbox, outbox and queries on the service's schema.
public struct StoreTransaction {
    public let connection: PostgresConnection
    public let schema: SchemaName
    public let logger: Logger

    /// Records `eventID` as processed. Returns false when it already was: the caller must then
    /// skip the event (it is a redelivery) and just store its offset.
    public func claimInbox(
        eventID: String, type: String, topic: String, partition: Int32, offset: Int64
    ) async throws -> Bool {
        let entry = InboxEntry(eventID: eventID, type: type, topic: topic, partition: partition, offset: offset)
        return try await claimInbox([entry]).contains(eventID)
    }

    /// Records a batch of events as processed in one statement and returns the ids that were
    /// new; the others are redeliveries to skip. An id repeated within the batch is new once.
    public func claimInbox(_ entries: [InboxEntry]) async throws -> Set<String> {
        guard !entries.isEmpty else { return [] }
        var fresh = Set<String>()
        for try await id in try await execute(ClaimInboxStatement(entries: entries)) { fresh.insert(id) }
        return fresh
    }

    /// Appends events to the outbox in one statement; the relay publishes them after commit,
    /// in `seq` order. Returns the records with the `seq` each was given.
    @discardableResult
    public func appendOutbox(_ records: [OutboxRecord]) async throws -> [OutboxReader.Claimed] {
        guard !records.isEmpty else { return [] }
        var seqOf: [String: Int64] = [:]
        seqOf.reserveCapacity(records.count)
        for try await (seq, eventID) in try await execute(AppendOutboxStatement(records: records)) { seqOf[eventID] = seq }
        return records.compactMap { record in seqOf[record.eventID].map { OutboxReader.Claimed(seq: $0, record: record) } }
    }

    /// Runs any query inside this transaction.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresRowSequence {
        try await connection.query(query, logger: logger)
    }

    /// Runs a prepared statement: the connection parses and plans it once, later runs only
    /// bind and execute.
    public func execute<Statement: PostgresPreparedStatement>(
        _ statement: Statement
    ) async throws -> AsyncThrowingMapSequence<PostgresRowSequence, Statement.Row> {
        try await connection.execute(statement, logger: logger)
    }
}

/// Where a consumed event came from, for the inbox.
public struct InboxEntry: Sendable, Hashable {
    public var eventID: String
    public var type: String
    public var topic: String
    public var partition: Int32
    public var offset: Int64

    public init(eventID: String, type: String, topic: String, partition: Int32, offset: Int64) {
        self.eventID = eventID
        self.type = type
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
}

/// An event waiting in the outbox: a serialized envelope and where it goes.
public struct OutboxRecord: Sendable, Hashable {
    public var eventID: String
    public var topic: String
    public var key: String
    public var eventType: String
    public var envelope: [UInt8]

    public init(eventID: String, topic: String, key: String, eventType: String, envelope: [UInt8]) {
        self.eventID = eventID
        self.topic = topic
        self.key = key
        self.eventType = eventType
        self.envelope = envelope
    }
}
