import Logging
import NIOCore
import PostgresNIO

/// The store side of the outbox relay: claims the oldest unpublished records and marks them
/// published, inside one transaction that holds the schema's relay lock.
///
/// Only one replica relays at a time (`pg_try_advisory_xact_lock`), so records of one key are
/// never published by two replicas in parallel and out of order. Records are selected by
/// `published_at IS NULL`, never by "seq greater than the last one seen", so a transaction that
/// took a lower `seq` but committed later is still picked up: nothing is skipped.
public struct OutboxReader: Sendable {
    public let store: Store

    public init(store: Store) {
        self.store = store
    }

    /// A record claimed for publishing.
    public struct Claimed: Sendable {
        public var seq: Int64
        public var record: OutboxRecord
    }

    /// Outcome of one relay round.
    public enum Round: Sendable, Equatable {
        /// Another replica holds the relay lock.
        case notLeader
        /// Published this many records (0 = the outbox was empty).
        case published(Int)
    }

    /// Claims up to `limit` unpublished records in `seq` order and passes them to `publish`,
    /// which returns the seqs it delivered; those are marked published and the transaction
    /// commits. If `publish` throws, nothing is marked and the records are retried next round.
    public func relayRound(
        limit: Int, publish: ([Claimed]) async throws -> [Int64]
    ) async throws -> Round {
        let schema = store.schema
        return try await store.withTransaction { tx in
            var leader = false
            for try await locked in try await tx.query(
                "SELECT pg_try_advisory_xact_lock(\(schema.lockKey("outbox-relay")))"
            ).decode(Bool.self) {
                leader = locked
            }
            guard leader else { return .notLeader }
            var claimed: [Claimed] = []
            let rows = try await tx.query(
                """
                SELECT seq, event_id, topic, key, event_type, envelope FROM outbox
                WHERE published_at IS NULL ORDER BY seq LIMIT \(limit)
                """)
            for try await (seq, eventID, topic, key, type, envelope) in rows.decode(
                (Int64, String, String, String, String, ByteBuffer).self)
            {
                claimed.append(
                    Claimed(
                        seq: seq,
                        record: OutboxRecord(
                            eventID: eventID, topic: topic, key: key, eventType: type,
                            envelope: Array(buffer: envelope))))
            }
            guard !claimed.isEmpty else { return .published(0) }
            let delivered = try await publish(claimed)
            if !delivered.isEmpty {
                try await tx.query("UPDATE outbox SET published_at = now() WHERE seq = ANY(\(delivered))")
            }
            return .published(delivered.count)
        }
    }

    /// Unpublished records (the outbox backlog).
    public func backlog() async throws -> Int {
        for try await count in try await store.query("SELECT count(*) FROM \(unescaped: store.schema.value).outbox WHERE published_at IS NULL").decode(Int.self) {
            return count
        }
        return 0
    }

    /// Deletes inbox entries older than `olderThanSeconds`; returns how many. The retention must
    /// outlast any redelivery (the Kafka topic's retention), or a very late duplicate would be
    /// processed again.
    @discardableResult
    public func pruneInbox(olderThanSeconds: Int) async throws -> Int {
        try await deleted(
            "DELETE FROM \(unescaped: store.schema.value).inbox WHERE received_at < now() - make_interval(secs => \(Double(olderThanSeconds))) RETURNING 1")
    }

    /// Deletes records published more than `olderThanSeconds` ago; returns how many.
    @discardableResult
    public func prunePublished(olderThanSeconds: Int) async throws -> Int {
        try await deleted(
            "DELETE FROM \(unescaped: store.schema.value).outbox WHERE published_at < now() - make_interval(secs => \(Double(olderThanSeconds))) RETURNING 1")
    }

    /// Runs a `DELETE ... RETURNING 1` and counts the rows.
    private func deleted(_ query: PostgresQuery) async throws -> Int {
        var count = 0
        for try await _ in try await store.query(query) { count += 1 }
        return count
    }
}
