import Foundation
import Testing

@testable import NovaCore

struct EventIDTests {
    @Test func isAVersion4UUIDInLowercase() {
        for _ in 0..<1000 {
            let id = EventID.random()
            let parsed = UUID(uuidString: id)
            #expect(parsed != nil, "\(id) parses as a UUID")
            #expect(parsed?.uuidString.lowercased() == id)
            let bytes = parsed.map { withUnsafeBytes(of: $0.uuid) { Array($0) } } ?? []
            #expect(bytes.count == 16 && bytes[6] >> 4 == 4, "version 4")
            #expect(bytes.count == 16 && bytes[8] >> 6 == 0b10, "RFC 4122 variant")
        }
    }

    @Test func spellsTheBitsItIsGiven() {
        #expect(EventID.make(high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210) == "01234567-89ab-4def-bedc-ba9876543210")
        #expect(EventID.make(high: 0, low: 0) == "00000000-0000-4000-8000-000000000000")
    }

    @Test func doesNotRepeat() {
        let ids = (0..<10_000).map { _ in EventID.random() }
        #expect(Set(ids).count == ids.count)
    }
}
