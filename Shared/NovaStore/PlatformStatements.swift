import NIOCore
import PostgresNIO

/// The inbox and outbox statements every consumed batch runs, prepared: parsed and planned
/// once per connection, not per batch. Table names are unqualified; a store's connections
/// start in its schema.
struct ClaimInboxStatement: PostgresPreparedStatement {
    static let name = "novacron_claim_inbox_v1"
    static let sql = """
        INSERT INTO inbox (event_id, event_type, source_topic, source_partition, source_offset)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bigint[])
        ON CONFLICT (event_id) DO NOTHING RETURNING event_id
        """
    typealias Row = String

    var entries: [InboxEntry]

    func makeBindings() throws -> PostgresBindings {
        try PostgresBindings(
            entries.map(\.eventID), entries.map(\.type), entries.map(\.topic), entries.map(\.partition), entries.map(\.offset))
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}

struct AppendOutboxStatement: PostgresPreparedStatement {
    static let name = "novacron_append_outbox_v1"
    static let sql = """
        INSERT INTO outbox (event_id, topic, key, event_type, envelope)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[])
        RETURNING seq, event_id
        """
    typealias Row = (Int64, String)

    var records: [OutboxRecord]

    func makeBindings() throws -> PostgresBindings {
        try PostgresBindings(
            records.map(\.eventID), records.map(\.topic), records.map(\.key), records.map(\.eventType),
            records.map { ByteBuffer(bytes: $0.envelope) })
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}

/// The relay's delete of what Kafka acknowledged, after a handed-over send (one per consumed
/// batch, like the inbox and outbox inserts) or a table round: prepared, not planned each time.
struct DeletePublishedStatement: PostgresPreparedStatement {
    static let name = "novacron_delete_published_v1"
    static let sql = "DELETE FROM outbox WHERE seq = ANY($1::bigint[])"
    typealias Row = Void

    var seqs: [Int64]

    func makeBindings() throws -> PostgresBindings {
        try PostgresBindings(seqs)
    }

    func decodeRow(_ row: PostgresRow) throws {}
}

extension PostgresBindings {
    /// Bindings of `values` as $1, $2, ... in their order: a prepared statement's parameters
    /// in one expression. Inlinable, so the encoding is specialized where it is called.
    @inlinable
    public init<each Value: PostgresThrowingDynamicTypeEncodable>(_ values: repeat each Value) throws {
        self.init()
        for value in repeat each values { try append(value) }
    }
}
