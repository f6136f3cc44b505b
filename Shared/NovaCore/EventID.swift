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
