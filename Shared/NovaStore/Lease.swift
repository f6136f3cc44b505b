import PostgresNIO

/// A lease taken for one transaction: the holder may act as the only replica of a singleton
/// component (the outbox relay, a sweep) until the transaction ends.
///
/// The lease is a transaction-scoped advisory lock (`pg_try_advisory_xact_lock`), so it ends
/// with the transaction however the holder dies, and a paused holder keeps it only while its
/// transaction is open (Postgres ends idle transactions after `idle_in_transaction_session_timeout`).
/// Its epoch grows each time another holder takes it: effects outside Postgres carry the
/// epoch, so a receiver can refuse those of a holder that has been replaced.
public struct LeaseGrant: Sendable, Hashable {
    public var name: String
    public var holder: String
    public var epoch: Int64
}

extension StoreTransaction {
    /// Takes lease `name` for `holder` if no other transaction holds it; nil when one does.
    public func acquireLease(_ name: String, holder: String) async throws -> LeaseGrant? {
        var locked = false
        for try await value in try await query("SELECT pg_try_advisory_xact_lock(\(schema.lockKey("lease:\(name)")))").decode(Bool.self) {
            locked = value
        }
        guard locked else { return nil }
        // Read first: a holder renewing its lease (every relay round, every timer poll) writes
        // nothing, so a lease costs no WAL flush at commit. Only a change of holder writes.
        var held: (holder: String, epoch: Int64)?
        for try await row in try await query("SELECT holder, epoch FROM leases WHERE name = \(name)").decode((String, Int64).self) {
            held = row
        }
        if let held, held.holder == holder { return LeaseGrant(name: name, holder: holder, epoch: held.epoch) }
        var epoch: Int64 = 0
        for try await value in try await query(
            """
            INSERT INTO leases (name, holder, epoch) VALUES (\(name), \(holder), 1)
            ON CONFLICT (name) DO UPDATE SET epoch = leases.epoch + 1, holder = EXCLUDED.holder, acquired_at = now()
            RETURNING epoch
            """
        ).decode(Int64.self) {
            epoch = value
        }
        return LeaseGrant(name: name, holder: holder, epoch: epoch)
    }
}
