/// Fresh event ids: random (version 4) UUIDs in lowercase text. Foundation's `UUID()` opens
/// /dev/urandom for every id on Linux (a few microseconds and three system calls per event a
/// service emits); these draw 16 bytes from `SystemRandomNumberGenerator` instead.
public enum EventID {
    public static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        return make(high: generator.next(), low: generator.next())
    }

    /// The UUID text of the 128 bits `high` and `low`, with the version 4 and RFC 4122
    /// variant bits set.
    static func make(high: UInt64, low: UInt64) -> String {
        let high = (high & ~0xF000) | 0x4000
        let low = (low & ~(0xC000 << 48)) | (0x8000 << 48)
        return String(unsafeUninitializedCapacity: 36) { buffer in
            var at = 0
            for nibble in 0..<32 {
                if nibble == 8 || nibble == 12 || nibble == 16 || nibble == 20 {
                    buffer[at] = UInt8(ascii: "-")
                    at += 1
                }
                let word = nibble < 16 ? high : low
                let digit = UInt8((word >> UInt64(60 - 4 * (nibble % 16))) & 0xF)
                buffer[at] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10
                at += 1
            }
            return at
        }
    }
}

extension EventID {
    /// The id named by `cause`: the same text always gives the same id, different texts give
    /// different ids (two independent 64-bit FNV-1a hashes, about 2^-122 to collide). Effects of
    /// a timer slot or a command derive their ids from it, so a re-fire or a retry after a
    /// crash produces an event the consumers' inboxes recognise as the one already seen.
    public static func derived(from cause: String) -> String {
        var high: UInt64 = 0xcbf2_9ce4_8422_2325
        var low: UInt64 = 0x8422_2325_cbf2_9ce4
        for byte in cause.utf8 {
            high = (high ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            low = (low ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            low = low ^ (low >> 29)
        }
        return make(high: SplitMix64.mix(high), low: SplitMix64.mix(low ^ high))
    }
}
