/// A consensus term (Raft) or epoch: strictly increasing; a message from an older term is stale.
public struct Term: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var value: UInt64

    public init(_ value: UInt64) { self.value = value }

    public static let initial = Term(0)

    /// The next term, as a candidate starting an election uses.
    public var next: Term { Term(value + 1) }

    public static func < (a: Term, b: Term) -> Bool { a.value < b.value }
    public var description: String { "term \(value)" }
}

/// A fencing token: issued with every leadership or lock grant, carried on every write the
/// holder makes. A resource accepts a write only if its token is not older than the newest it
/// has seen, so a paused ex-leader cannot overwrite its successor's work.
public struct FencingToken: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var term: Term
    public var sequence: UInt64

    public init(term: Term, sequence: UInt64) {
        self.term = term
        self.sequence = sequence
    }

    public static func < (a: FencingToken, b: FencingToken) -> Bool {
        (a.term, a.sequence) < (b.term, b.sequence)
    }

    /// The token of the next grant within the same term.
    public var next: FencingToken { FencingToken(term: term, sequence: sequence + 1) }

    /// Encodes to one integer (term in the high 32 bits), for the wire's `fencing_token`.
    public var packed: UInt64 { (term.value << 32) | (sequence & 0xFFFF_FFFF) }

    public init(packed: UInt64) {
        self.init(term: Term(packed >> 32), sequence: packed & 0xFFFF_FFFF)
    }

    /// Whether a write carrying `self` may proceed given the newest token the resource has seen.
    public func admits(after newestSeen: FencingToken?) -> Bool {
        guard let newestSeen else { return true }
        return self >= newestSeen
    }

    public var description: String { "fence \(term.value).\(sequence)" }
}

/// Majority arithmetic for a group of `members` voters.
public struct Quorum: Hashable, Sendable {
    public var members: Int

    public init(members: Int) { self.members = members }

    /// Votes needed: members / 2 + 1.
    public var size: Int { members / 2 + 1 }

    /// How many members may fail while a quorum remains.
    public var faultTolerance: Int { members - size }

    public func isReached(by votes: Int) -> Bool { votes >= size }
}

/// A time-bounded leadership grant. The holder acts as leader only while the lease is valid by
/// its own clock minus the allowed drift, so two leaders never overlap even with skewed clocks.
/// Times are nanoseconds on a clock the caller supplies (pure: this type reads no clock).
public struct LeaderLease: Hashable, Sendable {
    public var holder: String
    public var token: FencingToken
    public var grantedAtNanos: UInt64
    public var durationNanos: UInt64

    public init(holder: String, token: FencingToken, grantedAtNanos: UInt64, durationNanos: UInt64) {
        self.holder = holder
        self.token = token
        self.grantedAtNanos = grantedAtNanos
        self.durationNanos = durationNanos
    }

    public var expiresAtNanos: UInt64 { grantedAtNanos &+ durationNanos }

    /// The holder's view: valid until expiry minus the maximum clock drift.
    public func isHeld(atNanos now: UInt64, maxDriftNanos: UInt64) -> Bool {
        guard durationNanos > maxDriftNanos else { return false }
        return now >= grantedAtNanos && now < expiresAtNanos - maxDriftNanos
    }

    /// Everyone else's view: a new lease may be granted only after expiry plus the drift.
    public func mayBeReplaced(atNanos now: UInt64, maxDriftNanos: UInt64) -> Bool {
        now >= expiresAtNanos &+ maxDriftNanos
    }

    /// A renewal keeps the token (same leadership) and restarts the duration.
    public func renewed(atNanos now: UInt64) -> LeaderLease {
        LeaderLease(holder: holder, token: token, grantedAtNanos: now, durationNanos: durationNanos)
    }
}
