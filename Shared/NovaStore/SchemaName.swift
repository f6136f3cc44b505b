/// A Postgres schema (and role-name stem) for one service: lowercase letters, digits and `_`,
/// starting with a letter, at most 48 characters. Validated because schema names are
/// interpolated into DDL, which cannot take bind parameters.
public struct SchemaName: Hashable, Sendable, CustomStringConvertible {
    public let value: String

    public init(_ value: String) throws(StoreError) {
        let valid =
            !value.isEmpty && value.count <= 48 && value.first!.isLowercase && value.first!.isLetter
            && value.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "_" }
        guard valid else {
            throw StoreError(message: "invalid schema name '\(value)': use lowercase letters, digits and _, starting with a letter")
        }
        self.value = value
    }

    /// The login role that owns this schema, e.g. `novacron_placement`.
    public var role: String { "novacron_\(value)" }

    /// A stable 64-bit advisory-lock key derived from the schema and a purpose.
    public func lockKey(_ purpose: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(purpose):\(value)".utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return Int64(bitPattern: hash)
    }

    public var description: String { value }
}
