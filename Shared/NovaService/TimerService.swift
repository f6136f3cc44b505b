import Foundation
import Logging
import NovaCore
import NovaStore
import PostgresNIO
import ServiceLifecycle

/// Fires a service's due deadlines and ticks with the time of its clock, each batch in one
/// transaction with the handler's state, their emissions through the outbox like a consumed
/// record's.
///
/// Deadlines fire on the replica that owns their key's partition (fenced by its epoch); with no
/// key ownership, on whichever replica holds the `deadlines` lease. Ticks fire under the
/// `ticks` lease. A fired deadline is deleted in the transaction that handles it, and its
/// effects' ids derive from its slot: a crash before the commit fires it again with the same
/// ids, a crash after it never fires it again. What came due while no replica ran fires once,
/// with its original slot.
public final class TimerService: Service, Sendable {
    private let store: Store
    private let handler: any TimedHandler
    private let clock: any ServiceClock
    private let ownership: PartitionOwnership?
    private let ticks: [Tick]
    private let metrics: ServiceMetrics
    private let doorbell: Doorbell
    private let handoff: OutboxHandoff
    private let producerName: String
    private let hooks: FaultHooks
    private let logger: Logger
    private let poll: Duration
    private let batchSize: Int
    private let prepared: @Sendable () async throws -> Void
    private let grace: ShutdownGrace

    public init(
        store: Store, handler: any TimedHandler, clock: any ServiceClock, ownership: PartitionOwnership?, ticks: [Tick],
        metrics: ServiceMetrics, doorbell: Doorbell, handoff: OutboxHandoff, producerName: String, hooks: FaultHooks = FaultHooks(),
        logger: Logger, poll: Duration = .milliseconds(20), batchSize: Int = 1000,
        prepared: @escaping @Sendable () async throws -> Void = {}, grace: ShutdownGrace = .standard
    ) {
        self.grace = grace
        self.store = store
        self.handler = handler
        self.clock = clock
        self.ownership = ownership
        self.ticks = ticks
        self.metrics = metrics
        self.doorbell = doorbell
        self.handoff = handoff
        self.producerName = producerName
        self.hooks = hooks
        self.logger = logger
        self.poll = poll
        self.batchSize = batchSize
        self.prepared = prepared
    }

    public func run() async throws {
        try await prepared()
        try await registerTicks()
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var busy = false
            do {
                let now = clock.nowMillis()
                busy = try await grace.run {
                    if !self.ticks.isEmpty { _ = try await self.fireTicks(now: now) }
                    return try await self.fireDeadlines(now: now) >= self.batchSize
                }
            } catch let stale as StaleOwnership {
                await lose(stale.partitions)
            } catch {
                if StoreError.underlying(error) is CancellationError { break }
                logger.warning("timer round failed; retrying", metadata: ["error": "\(StoreError(error))"])
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            }
            if !busy { try? await cancelWhenGracefulShutdown { [poll] in try await Task.sleep(for: poll) } }
        }
        logger.info("timers stopped")
    }

    /// Fires up to `batchSize` due deadlines of owned partitions in one transaction; returns how many.
    func fireDeadlines(now: Int64) async throws -> Int {
        let held = ownership?.owned
        if let held, held.isEmpty { return 0 }
        let handler = handler
        let producer = producerName
        let (fired, emitted) = try await store.withTransaction { tx -> (Int, [OutboxReader.Claimed]) in
            if held == nil {
                guard try await tx.acquireLease("deadlines", holder: ReplicaIdentity.current) != nil else { return (0, []) }
            }
            let partitions = held.map { Array($0.keys) }
            var due: [Deadline] = []
            for try await (name, key, partition, slot, payload) in try await tx.query(
                """
                DELETE FROM deadlines WHERE (name, key) IN (
                  SELECT name, key FROM deadlines
                  WHERE due_ms <= \(now) AND (\(partitions == nil) OR partition = ANY(\(partitions ?? [])))
                  ORDER BY due_ms LIMIT \(batchSize) FOR UPDATE SKIP LOCKED)
                RETURNING name, key, partition, due_ms, payload
                """
            ).decode((String, String, Int32, Int64, ByteBuffer).self) {
                due.append(Deadline(name: name, key: key, partition: partition, slot: slot, payload: Array(buffer: payload)))
            }
            guard !due.isEmpty else { return (0, []) }
            due.sort { ($0.slot, $0.name, $0.key) < ($1.slot, $1.name, $1.key) }
            let emissions: [[Emission]]
            do {
                emissions = try await handler.fire(batch: due, now: now, in: tx)
            } catch let rejection as HandlerRejection {
                // Deadlines the handler can never act on are dropped, said once, not retried forever.
                self.logger.warning("deadlines dropped", metadata: ["deadlines": "\(due.count)", "reason": "\(rejection.reason)"])
                emissions = due.map { _ in [] }
            }
            precondition(emissions.count == due.count, "a handler must answer every deadline of its batch")
            var records: [OutboxRecord] = []
            let at = Date(timeIntervalSince1970: Double(now) / 1000)
            for (deadline, emitted) in zip(due, emissions) {
                records += try EmissionRecords.make(
                    emitted, producer: producer, correlationID: deadline.cause, causationID: deadline.cause,
                    derivingIDsFrom: deadline.cause, at: at)
            }
            let emitted = try await tx.appendOutbox(records)
            if let held { try await self.ownership?.fence(held.filter { p in due.contains { $0.partition == p.key } }, in: tx) }
            self.hooks.beforeTimerCommit?(due.count)
            return (due.count, emitted)
        }
        guard fired > 0 else { return 0 }
        hooks.afterTimerCommit?(fired)
        await committed(fired, kind: "deadline", emitted: emitted)
        return fired
    }

    /// After a firing's commit: metrics, the handler's hook, the records to the relay.
    private func committed(_ fired: Int, kind: String, emitted: [OutboxReader.Claimed]) async {
        metrics.timersFired(kind: kind, count: fired)
        await handler.committed()
        if !emitted.isEmpty {
            handoff.push(emitted)
            doorbell.ring()
        }
    }

    /// Fires the due ticks under the `ticks` lease; returns how many fired.
    func fireTicks(now: Int64) async throws -> Int {
        let handler = handler
        let producer = producerName
        let (fired, emitted) = try await store.withTransaction { tx -> (Int, [OutboxReader.Claimed]) in
            guard try await tx.acquireLease("ticks", holder: ReplicaIdentity.current) != nil else { return (0, []) }
            var due: [(String, Int64, Int64)] = []
            for try await row in try await tx.query(
                "SELECT name, period_ms, next_ms FROM ticks WHERE next_ms <= \(now) ORDER BY next_ms FOR UPDATE"
            ).decode((String, Int64, Int64).self) {
                due.append(row)
            }
            var records: [OutboxRecord] = []
            let at = Date(timeIntervalSince1970: Double(now) / 1000)
            for (name, period, slot) in due {
                let cause = "tick/\(name)/\(slot)"
                let emissions = try await handler.tick(name, slot: slot, now: now, in: tx)
                records += try EmissionRecords.make(
                    emissions, producer: producer, correlationID: cause, causationID: cause, derivingIDsFrom: cause, at: at)
                let next = Deadline.nextSlot(after: now, from: slot, every: period)
                try await tx.query("UPDATE ticks SET next_ms = \(next) WHERE name = \(name)")
            }
            return (due.count, try await tx.appendOutbox(records))
        }
        guard fired > 0 else { return 0 }
        await committed(fired, kind: "tick", emitted: emitted)
        return fired
    }

    /// Declares the service's ticks: a new one first fires one period from now; a known one
    /// keeps its next slot (so one missed while the service was down fires at start).
    private func registerTicks() async throws {
        guard !ticks.isEmpty else { return }
        let now = clock.nowMillis()
        let ticks = ticks
        try await store.withTransaction { tx in
            for tick in ticks {
                try await tx.query(
                    """
                    INSERT INTO ticks (name, period_ms, next_ms) VALUES (\(tick.name), \(tick.periodMillis), \(now + tick.periodMillis))
                    ON CONFLICT (name) DO UPDATE SET period_ms = EXCLUDED.period_ms
                    """)
            }
        }
    }

    private func lose(_ partitions: [Int32]) async {
        guard let ownership else { return }
        let released = ownership.release(partitions)
        guard !released.isEmpty else { return }
        metrics.staleOwnerRefused(count: released.count)
        logger.warning("timer transaction refused: partitions now owned by another replica", metadata: ["partitions": "\(released)"])
        if let keyed = handler as? any KeyedStateHandler { await keyed.lost(released) }
    }
}
