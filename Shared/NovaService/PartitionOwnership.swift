import NovaStore
import PostgresNIO
import Synchronization

/// The partitions this replica owns, each under the epoch it claimed it with. The replica the
/// consumer group assigns a partition owns the state and deadlines of every key in it; a claim
/// raises the partition's epoch in the service's schema, and every transaction on owned state
/// checks that the epochs it acts under are still the current ones (`fence`), so a replica
/// that lost a partition without knowing it yet (a long pause, a split from the broker) has
/// its transaction refused instead of acting on keys another replica now owns.
public final class PartitionOwnership: Sendable {
    public let owner: String
    private let epochs = Mutex<[Int32: Int64]>([:])

    public init(owner: String = ReplicaIdentity.current) {
        self.owner = owner
    }

    /// Partition -> epoch of what is owned now.
    public var owned: [Int32: Int64] { epochs.withLock { $0 } }

    public func owns(_ partition: Int32) -> Bool { epochs.withLock { $0[partition] != nil } }

    /// Raises the epochs of `partitions` to claim them for this replica (inside `tx`); call
    /// `grant` with the result once `tx` committed.
    public func claim(_ partitions: [Int32], in tx: StoreTransaction) async throws -> [Int32: Int64] {
        var claimed: [Int32: Int64] = [:]
        for try await (partition, epoch) in try await tx.query(
            """
            INSERT INTO partition_owners (partition, owner, epoch)
            SELECT p, \(owner), 1 FROM unnest(\(partitions.sorted())::int[]) AS p ORDER BY p
            ON CONFLICT (partition) DO UPDATE
              SET epoch = partition_owners.epoch + 1, owner = EXCLUDED.owner, claimed_at = now()
            RETURNING partition, epoch
            """
        ).decode((Int32, Int64).self) {
            claimed[partition] = epoch
        }
        return claimed
    }

    public func grant(_ claimed: [Int32: Int64]) {
        epochs.withLock { $0.merge(claimed) { _, new in new } }
    }

    /// Gives up `partitions` (revoked, or found stale); returns those that were owned.
    @discardableResult
    public func release(_ partitions: some Sequence<Int32>) -> [Int32] {
        epochs.withLock { epochs in partitions.filter { epochs.removeValue(forKey: $0) != nil } }
    }

    /// Gives up everything; returns what was owned.
    public func releaseAll() -> [Int32] {
        epochs.withLock { epochs in
            defer { epochs = [:] }
            return epochs.keys.sorted()
        }
    }

    /// Checks, inside `tx` and just before it commits, that `held` (partition -> epoch) are
    /// still the current epochs; throws `StaleOwnership` naming those that are not. The rows
    /// stay share-locked until commit, so a claim by another replica waits for this commit
    /// and then raises the epoch: a transaction is either committed before a takeover, and
    /// seen by the new owner's load, or refused.
    public func fence(_ held: [Int32: Int64], in tx: StoreTransaction) async throws {
        guard !held.isEmpty else { return }
        var current: [Int32: Int64] = [:]
        for try await (partition, epoch) in try await tx.execute(FenceStatement(partitions: held.keys.sorted())) {
            current[partition] = epoch
        }
        let stale = held.filter { current[$0.key] != $0.value }.map(\.key).sorted()
        if !stale.isEmpty { throw StaleOwnership(partitions: stale) }
    }
}

/// A transaction acted under epochs another replica has since replaced: refused, rolled back.
public struct StaleOwnership: Error, Sendable, CustomStringConvertible {
    public var partitions: [Int32]

    public var description: String { "stale owner of partitions \(partitions): another replica claimed them" }
}

struct FenceStatement: PostgresPreparedStatement {
    static let name = "novacron_fence_partitions_v1"
    static let sql = "SELECT partition, epoch FROM partition_owners WHERE partition = ANY($1::int[]) ORDER BY partition FOR SHARE"
    typealias Row = (Int32, Int64)

    var partitions: [Int32]

    func makeBindings() throws -> PostgresBindings { try PostgresBindings(partitions) }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}
