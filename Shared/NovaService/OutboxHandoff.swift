import NovaStore
import Synchronization

/// Outbox records a handler just committed, handed straight to the relay so it can publish
/// them without reading them back: the table stays the durable copy (and the only path after
/// a crash or a failed send), the handoff takes the relay's database round trips out of the
/// time from command to answer.
///
/// The relay publishes handed-over records in the order they were committed. While they are
/// queued or being sent, the relay's table rounds leave them alone (`held`).
public final class OutboxHandoff: Sendable {
    private struct State {
        var queued: [OutboxReader.Claimed] = []
        var sending: Set<Int64> = []
    }

    private let state = Mutex(State())

    public init() {}

    /// Queues records whose transaction committed.
    public func push(_ records: [OutboxReader.Claimed]) {
        guard !records.isEmpty else { return }
        state.withLock { $0.queued += records }
    }

    /// Takes everything queued, in commit order; the records count as being sent until
    /// `finished(_:)`.
    public func take() -> [OutboxReader.Claimed] {
        state.withLock { state in
            let taken = state.queued
            state.queued = []
            state.sending.formUnion(taken.map(\.seq))
            return taken
        }
    }

    /// The send of these records is over (delivered or not).
    public func finished(_ seqs: [Int64]) {
        state.withLock { state in
            for seq in seqs { state.sending.remove(seq) }
        }
    }

    /// Records queued or being sent: not to be read back from the table meanwhile.
    public var held: [Int64] {
        state.withLock { state in Array(state.sending) + state.queued.map(\.seq) }
    }
}
