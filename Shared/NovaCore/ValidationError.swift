/// A value that breaks a domain rule, naming the field and what was expected, so that a
/// dead-letter record or a CLI error can say exactly what to fix.
public struct ValidationError: Error, Equatable, Sendable, CustomStringConvertible {
    public var field: String
    public var message: String

    public init(field: String, _ message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}
