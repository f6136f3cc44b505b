import NovaCore
import NovaStore
import PostgresNIO

/// A per-key deadline: "wake host h at T", "fire schedule s at slot T". One per name and key;
/// setting it again moves it. `slot` is the time it was set for, kept when it fires late (after
/// a restart, say), so the effects of one slot are the same whenever it fires.
public struct Deadline: Sendable, Hashable {
    public var name: String
    public var key: String
    /// The partition that owns `key` (of the service's keyed topics).
    public var partition: Int32
    /// Due time, in the service clock's milliseconds.
    public var slot: Int64
    public var payload: [UInt8]

    public init(name: String, key: String, partition: Int32, slot: Int64, payload: [UInt8] = []) {
        self.name = name
        self.key = key
        self.partition = partition
        self.slot = slot
        self.payload = payload
    }

    /// What the ids of this firing's effects derive from.
    var cause: String { "deadline/\(name)/\(key)/\(slot)" }

    /// The first slot of a period after `now`, counting from `slot`: how a periodic deadline
    /// re-arms without firing once per period it missed.
    public static func nextSlot(after now: Int64, from slot: Int64, every period: Int64) -> Int64 {
        precondition(period > 0, "a period is positive")
        guard slot <= now else { return slot }
        return slot + ((now - slot) / period + 1) * period
    }
}

/// A service's deadlines, set and cancelled inside its handler's transaction, so a deadline
/// exists exactly when the state change that set it committed.
public struct Deadlines: Sendable {
    public let partitioner: KeyPartitioner

    public init(partitioner: KeyPartitioner) {
        self.partitioner = partitioner
    }

    /// Sets (or moves) deadline `name` of `key` to `slot`.
    public func set(_ name: String, key: String, at slot: Int64, payload: [UInt8] = [], in tx: StoreTransaction) async throws {
        try await set([entry(name, key: key, at: slot, payload: payload)], in: tx)
    }

    /// Sets (or moves) many deadlines in one statement; a later entry for the same name and
    /// key wins.
    public func set(_ entries: [Deadline], in tx: StoreTransaction) async throws {
        var latest: [String: Int] = [:]
        for (i, e) in entries.enumerated() { latest["\(e.name)\u{0}\(e.key)"] = i }
        let unique = entries.indices.filter { latest["\(entries[$0].name)\u{0}\(entries[$0].key)"] == $0 }.map { entries[$0] }
        guard !unique.isEmpty else { return }
        try await tx.query(
            """
            INSERT INTO deadlines (name, key, partition, due_ms, payload)
            SELECT * FROM unnest(\(unique.map(\.name))::text[], \(unique.map(\.key))::text[], \(unique.map(\.partition))::int[],
                                 \(unique.map(\.slot))::bigint[], \(unique.map { ByteBuffer(bytes: $0.payload) })::bytea[])
            ON CONFLICT (name, key) DO UPDATE SET due_ms = EXCLUDED.due_ms, payload = EXCLUDED.payload
            """)
    }

    /// A deadline for `set(_:in:)`: its partition is that of `partitionKey` (the key's by default).
    public func entry(_ name: String, key: String, partitionKey: String? = nil, at slot: Int64, payload: [UInt8] = []) -> Deadline {
        Deadline(name: name, key: key, partition: partitioner.partition(of: partitionKey ?? key), slot: slot, payload: payload)
    }

    public func cancel(_ name: String, key: String, in tx: StoreTransaction) async throws {
        try await tx.query("DELETE FROM deadlines WHERE name = \(name) AND key = \(key)")
    }

    /// The deadlines of `partitions`, to rebuild state of keys a replica just gained.
    public func pending(in partitions: [Int32], tx: StoreTransaction) async throws -> [Deadline] {
        var result: [Deadline] = []
        for try await (name, key, partition, due, payload) in try await tx.query(
            "SELECT name, key, partition, due_ms, payload FROM deadlines WHERE partition = ANY(\(partitions)) ORDER BY due_ms"
        ).decode((String, String, Int32, Int64, ByteBuffer).self) {
            result.append(Deadline(name: name, key: key, partition: partition, slot: due, payload: Array(buffer: payload)))
        }
        return result
    }
}

/// A periodic tick a service declares: fired on one replica at a time (under a lease), at
/// slots `period` apart; a tick missed while no replica ran fires once, with its slot.
public struct Tick: Sendable, Hashable {
    public var name: String
    public var periodMillis: Int64

    public init(name: String, periodMillis: Int64) {
        precondition(periodMillis > 0, "a tick's period is positive")
        self.name = name
        self.periodMillis = periodMillis
    }
}
