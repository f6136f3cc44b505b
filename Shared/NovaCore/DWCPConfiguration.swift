/// Configuration of DWCP, the distributed WAN communication protocol used for VM migration and
/// replication between sites: AMST (adaptive multi-stream transport), HDE (hierarchical delta
/// encoding, i.e. compression) and ACP (the consensus group coordinating a migration).
///
/// `validated()` enforces the invariants every node must agree on before it starts.
public struct DWCPConfiguration: Hashable, Sendable {
    public var streams: AMSTConfiguration
    public var encoding: HDEConfiguration
    public var consensus: ACPConfiguration

    public init(streams: AMSTConfiguration, encoding: HDEConfiguration, consensus: ACPConfiguration) {
        self.streams = streams
        self.encoding = encoding
        self.consensus = consensus
    }

    /// A sensible default: 4 to 64 streams, zstd level 3, a 3-node consensus group.
    public static let standard = DWCPConfiguration(
        streams: AMSTConfiguration(minStreams: 4, maxStreams: 64),
        encoding: HDEConfiguration(algorithm: .zstd, level: 3),
        consensus: ACPConfiguration(nodeCount: 3))

    public func validated() throws(ValidationError) -> DWCPConfiguration {
        _ = try streams.validated()
        _ = try encoding.validated()
        _ = try consensus.validated()
        return self
    }
}

/// AMST: how many parallel TCP streams a transfer may open.
public struct AMSTConfiguration: Hashable, Sendable {
    public static let streamLimit = 256
    public var minStreams: Int
    public var maxStreams: Int

    public init(minStreams: Int, maxStreams: Int) {
        self.minStreams = minStreams
        self.maxStreams = maxStreams
    }

    public func validated() throws(ValidationError) -> AMSTConfiguration {
        if minStreams < 1 { throw ValidationError(field: "amst.min_streams", "must be at least 1, got \(minStreams)") }
        if maxStreams > Self.streamLimit {
            throw ValidationError(field: "amst.max_streams", "must be at most \(Self.streamLimit), got \(maxStreams)")
        }
        if minStreams > maxStreams {
            throw ValidationError(field: "amst", "min_streams (\(minStreams)) must not exceed max_streams (\(maxStreams))")
        }
        return self
    }
}

/// HDE: the compression applied to transferred pages and blocks.
public struct HDEConfiguration: Hashable, Sendable {
    public enum Algorithm: String, Hashable, Sendable, CaseIterable {
        case none, lz4, zstd, gzip

        /// The levels the algorithm accepts.
        public var levels: ClosedRange<Int> {
            switch self {
            case .none: 0...0
            case .lz4: 1...12
            case .zstd: 1...22
            case .gzip: 1...9
            }
        }
    }

    public var algorithm: Algorithm
    public var level: Int

    public init(algorithm: Algorithm, level: Int) {
        self.algorithm = algorithm
        self.level = level
    }

    public func validated() throws(ValidationError) -> HDEConfiguration {
        if !algorithm.levels.contains(level) {
            throw ValidationError(
                field: "hde.level",
                "\(algorithm.rawValue) takes levels \(algorithm.levels.lowerBound)...\(algorithm.levels.upperBound), got \(level)")
        }
        return self
    }
}

/// ACP: the consensus group. Its size must be odd (no split votes) and between 3 and 11; the
/// quorum is always a strict majority.
public struct ACPConfiguration: Hashable, Sendable {
    public static let allowedSizes = 3...11
    public var nodeCount: Int

    public init(nodeCount: Int) {
        self.nodeCount = nodeCount
    }

    /// The majority: nodeCount / 2 + 1.
    public var quorum: Quorum { Quorum(members: nodeCount) }

    public func validated() throws(ValidationError) -> ACPConfiguration {
        if !Self.allowedSizes.contains(nodeCount) {
            throw ValidationError(field: "acp.node_count", "must be between 3 and 11, got \(nodeCount)")
        }
        if nodeCount % 2 == 0 {
            throw ValidationError(field: "acp.node_count", "must be odd so that votes cannot split evenly, got \(nodeCount)")
        }
        return self
    }
}
