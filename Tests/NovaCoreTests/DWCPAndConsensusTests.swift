import NovaCore
import Testing

@Suite struct DWCPConfigurationTests {
    @Test func standardIsValid() throws {
        #expect(try DWCPConfiguration.standard.validated() == .standard)
    }

    @Test(arguments: [3, 5, 7, 9, 11])
    func oddGroupsFromThreeToElevenAreValid(n: Int) throws {
        let acp = try ACPConfiguration(nodeCount: n).validated()
        #expect(acp.quorum.size == n / 2 + 1)
    }

    @Test(arguments: [0, 1, 2, 4, 6, 10, 12, 13])
    func otherGroupSizesAreRejected(n: Int) {
        #expect { try ACPConfiguration(nodeCount: n).validated() } throws: {
            ($0 as? ValidationError)?.field == "acp.node_count"
        }
    }

    @Test func streamBounds() {
        #expect(throws: ValidationError.self) { try AMSTConfiguration(minStreams: 8, maxStreams: 4).validated() }
        #expect(throws: ValidationError.self) { try AMSTConfiguration(minStreams: 0, maxStreams: 4).validated() }
        #expect(throws: ValidationError.self) { try AMSTConfiguration(minStreams: 1, maxStreams: 1000).validated() }
        #expect(throws: Never.self) { try AMSTConfiguration(minStreams: 4, maxStreams: 4).validated() }
    }

    @Test func compressionLevelsPerAlgorithm() {
        #expect(throws: Never.self) { try HDEConfiguration(algorithm: .zstd, level: 22).validated() }
        #expect(throws: ValidationError.self) { try HDEConfiguration(algorithm: .zstd, level: 23).validated() }
        #expect(throws: ValidationError.self) { try HDEConfiguration(algorithm: .gzip, level: 10).validated() }
        #expect(throws: ValidationError.self) { try HDEConfiguration(algorithm: .none, level: 1).validated() }
        #expect(throws: ValidationError.self) { try HDEConfiguration(algorithm: .lz4, level: 0).validated() }
    }
}

@Suite struct ConsensusTests {
    @Test func quorumArithmetic() {
        #expect(Quorum(members: 3).size == 2)
        #expect(Quorum(members: 5).size == 3)
        #expect(Quorum(members: 5).faultTolerance == 2)
        #expect(Quorum(members: 7).isReached(by: 4))
        #expect(!Quorum(members: 7).isReached(by: 3))
    }

    @Test func fencingTokensOrderByTermThenSequence() {
        let old = FencingToken(term: Term(3), sequence: 99)
        let new = FencingToken(term: Term(4), sequence: 0)
        #expect(old < new)
        #expect(new.admits(after: old))
        #expect(!old.admits(after: new))
        #expect(new.next.admits(after: new))
        #expect(FencingToken(packed: new.next.packed) == new.next)
    }

    @Test func leaseIsNeverHeldWhileReplaceable() {
        let lease = LeaderLease(holder: "a", token: FencingToken(term: Term(1), sequence: 1), grantedAtNanos: 1_000, durationNanos: 10_000)
        let drift: UInt64 = 500
        for now in stride(from: UInt64(0), through: 20_000, by: 100) {
            #expect(!(lease.isHeld(atNanos: now, maxDriftNanos: drift) && lease.mayBeReplaced(atNanos: now, maxDriftNanos: drift)))
        }
        #expect(lease.isHeld(atNanos: 5_000, maxDriftNanos: drift))
        #expect(!lease.isHeld(atNanos: 10_600, maxDriftNanos: drift))
        #expect(lease.mayBeReplaced(atNanos: 11_500, maxDriftNanos: drift))
        #expect(lease.renewed(atNanos: 9_000).isHeld(atNanos: 15_000, maxDriftNanos: drift))
    }
}
