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
        var b = PostgresBindings(capacity: 5)
        b.append(entries.map(\.eventID))
        b.append(entries.map(\.type))
        b.append(entries.map(\.topic))
        b.append(entries.map(\.partition))
        b.append(entries.map(\.offset))
        return b
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
        var b = PostgresBindings(capacity: 5)
        b.append(records.map(\.eventID))
        b.append(records.map(\.topic))
        b.append(records.map(\.key))
        b.append(records.map(\.eventType))
        b.append(records.map { ByteBuffer(bytes: $0.envelope) })
        return b
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}
