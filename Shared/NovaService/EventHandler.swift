import NovaCore
import NovaStore
import SwiftProtobuf

/// A service's business logic for one consumed event: decide with the pure core, persist the
/// state change through `tx`, and return the events to emit. The runtime does the rest: it
/// decodes and validates the record, dedupes through the inbox, writes the returned events to
/// the outbox in the same transaction, commits, and only then stores the Kafka offset.
///
/// Throw `HandlerRejection` (or a `ValidationError`) for input that can never succeed: the
/// record is dead-lettered with that reason. Any other error rolls back and is retried: a
/// `RetryableError` or a transient database failure until it succeeds, anything else five
/// times before the record is dead-lettered.
///
/// The runtime hands over records in batches, one transaction per batch, through
/// `handle(batch:in:)`; by default it calls `handle(_:in:)` for each event in order. A handler
/// that can do a batch's work in fewer statements overrides it. When a batch's transaction
/// fails, the runtime calls `rolledBack()` and retries the batch's records one at a time, so
/// a rejection dead-letters only the record that caused it; after each commit it calls
/// `committed()`.
public protocol EventHandler: Sendable {
    func handle(_ event: DecodedEvent, in tx: StoreTransaction) async throws -> [Emission]
    /// The emissions of each event, in the order of `batch`.
    func handle(batch: [DecodedEvent], in tx: StoreTransaction) async throws -> [[Emission]]
    /// Called after a transaction the handler took part in rolled back: undo in-memory state
    /// that assumed it would commit.
    func rolledBack() async
    /// Called after a transaction the handler took part in committed: publish what only
    /// counts once it did (metrics of its decisions, say).
    func committed() async
}

extension EventHandler {
    public func handle(batch: [DecodedEvent], in tx: StoreTransaction) async throws -> [[Emission]] {
        var emissions: [[Emission]] = []
        emissions.reserveCapacity(batch.count)
        for event in batch { emissions.append(try await handle(event, in: tx)) }
        return emissions
    }

    public func rolledBack() async {}

    public func committed() async {}
}

/// An event to publish after commit.
public struct Emission: Sendable {
    public var topic: String
    public var key: String
    public var message: any SwiftProtobuf.Message
    /// `message` already serialized, when the handler had to serialize it anyway (to store
    /// it): the runtime then does not serialize it again.
    public var payload: [UInt8]?

    public init(topic: String, key: String, message: any SwiftProtobuf.Message, payload: [UInt8]? = nil) {
        self.topic = topic
        self.key = key
        self.message = message
        self.payload = payload
    }
}

/// Input that is well-formed protobuf but that the handler can never process (an invalid
/// value, an unknown id): dead-lettered with `reason`, not retried.
public struct HandlerRejection: Error, Sendable, CustomStringConvertible {
    public var code: String
    public var reason: String

    public init(code: String = "rejected", _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { reason }
}

/// A handler error that says "not now" about input that is fine (a race lost to another
/// replica, say): the record is retried with backoff for as long as it takes, never
/// dead-lettered, as a lost database connection is.
public protocol RetryableError: Error {}

/// Hooks for crash tests: called at the two points where a crash is hardest to survive.
/// Production services leave them nil.
public struct FaultHooks: Sendable {
    /// After a handler's transaction committed, before its Kafka offset is stored.
    public var afterCommit: (@Sendable (_ eventID: String) -> Void)?
    /// After the relay's records were acknowledged by Kafka, before they are deleted from the outbox.
    public var afterDelivery: (@Sendable (_ count: Int) -> Void)?
    /// Inside a timer firing's transaction, after the handler decided, before the commit.
    public var beforeTimerCommit: (@Sendable (_ fired: Int) -> Void)?
    /// After a timer firing's transaction committed, before its records are handed to the relay.
    public var afterTimerCommit: (@Sendable (_ fired: Int) -> Void)?

    public init(
        afterCommit: (@Sendable (_ eventID: String) -> Void)? = nil,
        afterDelivery: (@Sendable (_ count: Int) -> Void)? = nil,
        beforeTimerCommit: (@Sendable (_ fired: Int) -> Void)? = nil,
        afterTimerCommit: (@Sendable (_ fired: Int) -> Void)? = nil
    ) {
        self.afterCommit = afterCommit
        self.afterDelivery = afterDelivery
        self.beforeTimerCommit = beforeTimerCommit
        self.afterTimerCommit = afterTimerCommit
    }
}

/// A handler that keeps state per key and is told which partitions it owns (see
/// `PartitionOwnership`). `gained` runs in the transaction that claims the partitions, before
/// any record or deadline of them reaches the handler: load or rebuild their keys' state there.
/// `lost` runs when they are revoked or found claimed by another replica: drop their state.
public protocol KeyedStateHandler: EventHandler {
    func gained(_ partitions: [Int32], in tx: StoreTransaction) async throws
    func lost(_ partitions: [Int32]) async
}

/// A handler with time-driven work: deadlines it sets through `ServiceContext.deadlines`, and
/// the periodic ticks its service declares. Each firing runs in one transaction with the
/// handler's state; its emissions go through the outbox with ids derived from the deadline or
/// tick slot, so a re-fire after a crash repeats the same events, never new ones.
public protocol TimedHandler: EventHandler {
    /// `deadline` came due (it is already removed; set it again to re-arm it). `now` is the
    /// service clock's time, later than `deadline.slot` when it fires late.
    func fire(_ deadline: Deadline, now: Int64, in tx: StoreTransaction) async throws -> [Emission]
    /// The emissions of each deadline of a batch fired in one transaction, in its order; by
    /// default `fire(_:now:in:)` for each. A handler that can do a batch's work in fewer
    /// statements overrides it (a `HandlerRejection` then drops the whole batch's deadlines).
    func fire(batch: [Deadline], now: Int64, in tx: StoreTransaction) async throws -> [[Emission]]
    /// Periodic tick `name` at `slot`, on one replica at a time.
    func tick(_ name: String, slot: Int64, now: Int64, in tx: StoreTransaction) async throws -> [Emission]
}

extension TimedHandler {
    public func fire(batch: [Deadline], now: Int64, in tx: StoreTransaction) async throws -> [[Emission]] {
        var emissions: [[Emission]] = []
        emissions.reserveCapacity(batch.count)
        for deadline in batch { emissions.append(try await fire(deadline, now: now, in: tx)) }
        return emissions
    }

    public func tick(_ name: String, slot: Int64, now: Int64, in tx: StoreTransaction) async throws -> [Emission] { [] }
}
