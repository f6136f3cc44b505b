import PostgresNIO

/// A Postgres failure phrased for an operator. PostgresNIO hides server details from
/// `PSQLError.description` on purpose; this type pulls out the SQLSTATE and message.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public var sqlState: String?
    public var message: String
    /// The server could not be reached or the connection broke (no SQLSTATE involved).
    public var isConnectionFailure: Bool

    public init(sqlState: String? = nil, message: String, isConnectionFailure: Bool = false) {
        self.sqlState = sqlState
        self.message = message
        self.isConnectionFailure = isConnectionFailure
    }

    /// The error a transaction's body threw, unwrapped from PostgresNIO's transaction error.
    public static func underlying(_ error: any Error) -> any Error {
        if let transaction = error as? PostgresTransactionError, let cause = transaction.closureError {
            return cause
        }
        return error
    }

    /// Wraps any error from PostgresNIO (or passes a StoreError through); any other error keeps
    /// its own description.
    public init(_ error: any Error, connectingTo settings: PostgresSettings? = nil) {
        if let storeError = error as? StoreError {
            self = storeError
            return
        }
        if let transaction = error as? PostgresTransactionError {
            if let cause = transaction.closureError ?? transaction.beginError ?? transaction.commitError {
                self.init(cause, connectingTo: settings)
                return
            }
        }
        let target = settings.map { " (\($0))" } ?? ""
        if let psql = error as? PSQLError {
            let state = psql.serverInfo?[.sqlState]
            let serverMessage = psql.serverInfo?[.message]
            switch state {
            case "28P01", "28000":
                self.init(sqlState: state, message: "Postgres authentication failed for user '\(settings?.username ?? "?")'\(target): \(serverMessage ?? "password rejected"); check POSTGRES_URL")
            case "3D000":
                self.init(sqlState: state, message: "Postgres database does not exist\(target): \(serverMessage ?? "")")
            case .some(let state):
                self.init(sqlState: state, message: "Postgres error \(state): \(serverMessage ?? "\(psql.code)")")
            case nil:
                let underlying = psql.underlying.map { String(describing: $0) } ?? "\(psql.code)"
                self.init(message: "cannot reach Postgres\(target): \(underlying)", isConnectionFailure: true)
            }
            return
        }
        // Not from Postgres (a handler's own error, say): named as itself, unless connecting.
        self.init(message: settings == nil ? "\(error)" : "Postgres\(target): \(error)")
    }

    /// True for failures worth retrying indefinitely: serialization failures, deadlocks, lost
    /// connections, a server shutting down.
    public var isTransient: Bool {
        if isConnectionFailure { return true }
        guard let sqlState else { return false }
        return sqlState == "40001" || sqlState == "40P01" || sqlState.hasPrefix("08") || sqlState == "57P01"
            || sqlState == "57P03"
    }

    public var description: String { message }
}
