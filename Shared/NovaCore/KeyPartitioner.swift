/// Which partition of a topic a record key lands in: librdkafka's default `consistent_random`
/// partitioner (CRC-32 of the key, modulo the partition count), computed without a client.
/// A service that owns state per key uses it to know which partition, and so which replica,
/// owns a key it did not just read from a record (a timer, a key named inside a payload).
public struct KeyPartitioner: Sendable, Hashable {
    public let partitionCount: Int32

    public init(partitionCount: Int32) {
        precondition(partitionCount > 0, "a topic has at least one partition")
        self.partitionCount = partitionCount
    }

    public func partition(of key: String) -> Int32 {
        Int32(truncatingIfNeeded: Self.crc32(key.utf8) % UInt32(partitionCount))
    }

    /// CRC-32 (IEEE 802.3, reflected, as zlib and librdkafka's rd_crc32 compute it).
    public static func crc32<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
        }
        return crc ^ 0xFFFF_FFFF
    }

    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }
}
