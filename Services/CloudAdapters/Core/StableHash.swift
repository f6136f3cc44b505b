/// FNV-1a over a string's UTF-8: a hash that is the same in every process and run (Swift's
/// `Hasher` is seeded per process), for draws and tokens that must replay.
enum StableHash {
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }
}
