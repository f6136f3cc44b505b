import Logging
import NIOCore
import PostgresNIO

/// The store side of the outbox relay: claims the oldest records and, once Kafka has them,
/// deletes them, inside one transaction that holds the schema's relay lock. The outbox holds
/// only what is not yet published.
///
/// Only one replica relays at a time (the `outbox-relay` lease), so records of one key are
/// never published by two replicas in parallel and out of order. Records are selected by being
/// there, never by "seq greater than the last one seen", so a transaction that took a lower
/// `seq` but committed later is still picked up: nothing is skipped.
public struct OutboxReader: Sendable {
    public let store: Store
    /// Who relays, in the lease (service, host and process).
    public let holder: String

    public init(store: Store, holder: String = ReplicaIdentity.current) {
        self.store = store
        self.holder = holder
    }

    /// An outbox record with its place in the order.
    public struct Claimed: Sendable {
        public var seq: Int64
        public var record: OutboxRecord

        public init(seq: Int64, record: OutboxRecord) {
            self.seq = seq
            self.record = record
        }
    }

    /// Outcome of one relay round.
    public enum Round: Sendable, Equatable {
        /// Another replica holds the relay lock.
        case notLeader
        /// Published this many records (0 = the outbox was empty).
        case published(Int)
    }

    /// Claims up to `limit` records in `seq` order and passes them to `publish`, which returns
    /// the seqs it delivered; those are deleted and the transaction commits. If `publish`
    /// throws, nothing is deleted and the records are retried next round. Records younger than
    /// `olderThanSeconds`, and those in `excluding`, are left to whoever holds them.
    public func relayRound(
        limit: Int, olderThanSeconds: Double = 0, excluding: [Int64] = [], publish: ([Claimed]) async throws -> [Int64]
    ) async throws -> Round {
        let holder = holder
        return try await store.withTransaction { tx in
            guard try await tx.acquireLease("outbox-relay", holder: holder) != nil else { return .notLeader }
            var claimed: [Claimed] = []
            let rows = try await tx.query(
                """
                SELECT seq, event_id, topic, key, event_type, envelope FROM outbox
                WHERE created_at <= now() - make_interval(secs => \(olderThanSeconds)) AND seq <> ALL(\(excluding))
                ORDER BY seq LIMIT \(limit)
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
                for try await _ in try await tx.execute(DeletePublishedStatement(seqs: delivered)) {}
            }
            return .published(delivered.count)
        }
    }

    /// Deletes records the relay published from its handoff (no lock: they were never read
    /// back, so no other round holds them).
    public func deletePublished(_ seqs: [Int64]) async throws {
        guard !seqs.isEmpty else { return }
        for try await _ in try await store.client.execute(DeletePublishedStatement(seqs: seqs), logger: store.logger) {}
    }

    /// Unpublished records (the outbox backlog).
    public func backlog() async throws -> Int {
        for try await count in try await store.query("SELECT count(*) FROM \(unescaped: store.schema.value).outbox").decode(Int.self) {
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

    /// Runs a `DELETE ... RETURNING 1` and counts the rows.
    private func deleted(_ query: PostgresQuery) async throws -> Int {
        var count = 0
        for try await _ in try await store.query(query) { count += 1 }
        return count
    }
}
