import Foundation
import NIOCore
import NIOSSL
import PostgresNIO

/// Where and as whom to connect, parsed from a `postgres://user:password@host:port/database`
/// URL (`POSTGRES_URL`). `?sslmode=disable|prefer|require` picks TLS (default prefer).
public struct PostgresSettings: Sendable, Equatable, CustomStringConvertible {
    public enum TLSMode: String, Sendable { case disable, prefer, require }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    public init(host: String, port: Int = 5432, username: String, password: String?, database: String, tls: TLSMode = .disable) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
    }

    /// Parses a URL, saying what is wrong with it (without echoing the password).
    public init(url: String) throws(PostgresSettingsError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme else {
            throw .malformed("not a URL; expected postgres://user:password@host:port/database")
        }
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw .malformed("scheme must be postgres://, got \(scheme)://")
        }
        guard let host = components.host, !host.isEmpty else { throw .malformed("missing host") }
        guard let user = components.user, !user.isEmpty else { throw .malformed("missing user name") }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty else { throw .malformed("missing database name (the path, e.g. /novacron)") }
        var tls = TLSMode.prefer
        if let mode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value {
            guard let parsed = TLSMode(rawValue: mode) else {
                throw .malformed("sslmode must be disable, prefer or require, got \(mode)")
            }
            tls = parsed
        }
        self.init(
            host: host, port: components.port ?? 5432, username: user.removingPercentEncoding ?? user,
            password: components.password.map { $0.removingPercentEncoding ?? $0 }, database: database, tls: tls)
    }

    /// The same server and database as another user.
    public func withCredentials(username: String, password: String) -> PostgresSettings {
        var copy = self
        copy.username = username
        copy.password = password
        return copy
    }

    /// Seconds to wait for a connection before reporting the server unreachable.
    static let connectTimeout = Duration.seconds(5)

    /// The pool's configuration (the service's `Store`).
    public var clientConfiguration: PostgresClient.Configuration {
        let tlsConfig: PostgresClient.Configuration.TLS
        switch tls {
        case .disable: tlsConfig = .disable
        case .prefer: tlsConfig = .prefer(.makeClientConfiguration())
        case .require: tlsConfig = .require(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tlsConfig)
        configuration.options.connectTimeout = Self.connectTimeout
        return configuration
    }

    /// A single connection's configuration (start-up probe, schema provisioning), with the same
    /// TLS mode as the pool.
    public func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tlsConfig: PostgresConnection.Configuration.TLS
        switch tls {
        case .disable: tlsConfig = .disable
        case .prefer: tlsConfig = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: tlsConfig = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tlsConfig)
        configuration.options.connectTimeout = TimeAmount.seconds(Int64(Self.connectTimeout.components.seconds))
        return configuration
    }

    /// Without the password.
    public var description: String { "postgres://\(username)@\(host):\(port)/\(database)" }
}

public enum PostgresSettingsError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(String)

    public var description: String {
        switch self {
        case .malformed(let why): why
        }
    }
}
