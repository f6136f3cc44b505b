import Foundation
import NovaCore
import NovaProto

/// A command-line value that does not parse, with what was expected. `novacronctl` prints it
/// and exits with code 2 before anything is published.
public struct UsageError: Error, Equatable, Sendable, CustomStringConvertible {
    public var option: String
    public var problem: String
    public var expected: String

    public init(_ option: String, _ problem: String, expected: String) {
        self.option = option
        self.problem = problem
        self.expected = expected
    }

    public var description: String { "\(option): \(problem); expected \(expected)" }
}

/// The grammar of `novacronctl` option values: quantities with units, label selectors, VM
/// group rules, prices and times. Pure, so every rule is unit-tested.
public enum OptionGrammar {
    /// vCPUs as "2", "1.5" or millicores as "500m"; returns millicores.
    public static func cpu(_ text: String, option: String = "--cpu") throws(UsageError) -> Int64 {
        let expected = "vCPUs such as 2, 0.5 or 500m"
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        if t.hasSuffix("m"), let millis = Int64(t.dropLast()), millis > 0 { return millis }
        guard let value = Double(t), value.isFinite else { throw UsageError(option, "'\(text)' is not a number", expected: expected) }
        guard value > 0 else { throw UsageError(option, "'\(text)' must be positive", expected: expected) }
        let millis = (value * 1000).rounded()
        guard millis >= 1, millis < 1e15 else { throw UsageError(option, "'\(text)' is out of range", expected: expected) }
        return Int64(millis)
    }

    /// Memory as "4GiB", "4G", "512MiB", "512M", "1TiB" or a bare number of MiB; returns MiB.
    public static func memory(_ text: String, option: String = "--memory") throws(UsageError) -> Int64 {
        try amount(text, option: option, units: ["": 1, "m": 1, "mi": 1, "mib": 1, "g": 1024, "gi": 1024, "gib": 1024, "t": 1 << 20, "ti": 1 << 20, "tib": 1 << 20],
            expected: "an amount such as 4GiB, 512MiB or 2048 (MiB)")
    }

    /// Disk as "20", "20GiB", "2TiB"; returns GiB.
    public static func disk(_ text: String, option: String = "--disk") throws(UsageError) -> Int64 {
        try amount(text, option: option, units: ["": 1, "g": 1, "gi": 1, "gib": 1, "t": 1024, "ti": 1024, "tib": 1024],
            expected: "an amount such as 20 (GiB), 100GiB or 2TiB", allowZero: true)
    }

    /// A whole number with an optional binary unit suffix (case-insensitive).
    private static func amount(
        _ text: String, option: String, units: [String: Int64], expected: String, allowZero: Bool = false
    ) throws(UsageError) -> Int64 {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        let digits = t.prefix { $0.isNumber || $0 == "." }
        let unit = String(t.dropFirst(digits.count)).trimmingCharacters(in: .whitespaces)
        guard !digits.isEmpty, let value = Double(digits) else { throw UsageError(option, "'\(text)' is not an amount", expected: expected) }
        guard let scale = units[unit] else { throw UsageError(option, "unknown unit '\(unit)' in '\(text)'", expected: expected) }
        let total = (value * Double(scale)).rounded()
        guard total < 1e15 else { throw UsageError(option, "'\(text)' is out of range", expected: expected) }
        guard allowZero ? total >= 0 : total >= 1 else { throw UsageError(option, "'\(text)' must be positive", expected: expected) }
        return Int64(total)
    }

    /// Dollars per hour as "0.45" or "$0.45"; returns micro-dollars.
    public static func price(_ text: String, option: String = "--max-price") throws(UsageError) -> Int64 {
        let expected = "dollars per hour such as 0.45 or $1.20"
        var t = text.trimmingCharacters(in: .whitespaces)
        if t.hasPrefix("$") { t.removeFirst() }
        if t.hasSuffix("/h") { t.removeLast(2) }
        guard let dollars = Double(t), dollars.isFinite else { throw UsageError(option, "'\(text)' is not a price", expected: expected) }
        guard dollars > 0 else { throw UsageError(option, "'\(text)' must be positive", expected: expected) }
        guard dollars < 1e6 else { throw UsageError(option, "'\(text)' is out of range", expected: expected) }
        return Int64((dollars * 1_000_000).rounded())
    }

    /// A label selector in Kubernetes set-based syntax ("tier In gold,silver", "gpu Exists",
    /// "!gpu", "arch NotIn arm") or equality syntax ("tier=gold", "tier!=bronze").
    public static func selector(_ text: String, option: String = "--selector") throws(UsageError) -> Novacron_V1_LabelSelectorRequirement {
        let expected = "'KEY In V1,V2', 'KEY NotIn V1,V2', 'KEY Exists', 'KEY DoesNotExist', 'KEY=V', 'KEY!=V' or '!KEY'"
        let t = text.trimmingCharacters(in: .whitespaces)
        var r = Novacron_V1_LabelSelectorRequirement()
        let words = t.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        if words.count >= 2 {
            r.key = words[0]
            switch words[1].lowercased() {
            case "in": r.operator = .in
            case "notin": r.operator = .notIn
            case "exists": r.operator = .exists
            case "doesnotexist": r.operator = .doesNotExist
            default: throw UsageError(option, "unknown operator '\(words[1])' in '\(text)'", expected: expected)
            }
            r.values = words.dropFirst(2).joined().split(separator: ",").map(String.init)
        } else if let range = t.range(of: "!=") {
            r.key = String(t[..<range.lowerBound])
            r.operator = .notIn
            r.values = [String(t[range.upperBound...])]
        } else if let range = t.range(of: "=") {
            r.key = String(t[..<range.lowerBound])
            r.operator = .in
            r.values = [String(t[range.upperBound...])]
        } else if t.hasPrefix("!") {
            r.key = String(t.dropFirst())
            r.operator = .doesNotExist
        } else {
            r.key = t
            r.operator = .exists
        }
        if r.key.isEmpty { throw UsageError(option, "no label key in '\(text)'", expected: expected) }
        if r.values.contains(where: \.isEmpty) { throw UsageError(option, "empty value in '\(text)'", expected: expected) }
        do {
            _ = try LabelSelector(r)
        } catch {
            throw UsageError(option, "'\(text)': \(error.message)", expected: expected)
        }
        return r
    }

    /// "host", "zone" or "region".
    public static func scope(_ text: String, option: String) throws(UsageError) -> Novacron_V1_TopologyScope {
        switch text.lowercased() {
        case "host": .host
        case "zone": .zone
        case "region": .region
        default: throw UsageError(option, "unknown scope '\(text)'", expected: "host, zone or region")
        }
    }

    /// "GROUP" or "GROUP:SCOPE" (scope defaults to host).
    public static func affinity(_ text: String, anti: Bool) throws(UsageError) -> Novacron_V1_AffinityRule {
        let option = anti ? "--anti-affinity" : "--affinity"
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), !parts[0].isEmpty else {
            throw UsageError(option, "'\(text)' is not a group rule", expected: "GROUP or GROUP:host|zone|region")
        }
        var rule = Novacron_V1_AffinityRule()
        rule.vmGroup = parts[0]
        rule.scope = parts.count == 2 ? try scope(parts[1], option: option) : .host
        rule.anti = anti
        return rule
    }

    /// "GROUP", "GROUP:SCOPE" or "GROUP:SCOPE:MAX_SKEW" (defaults: zone, 1).
    public static func spread(_ text: String) throws(UsageError) -> Novacron_V1_SpreadRule {
        let expected = "GROUP[:host|zone|region[:MAX_SKEW]] such as web:zone:1"
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard (1...3).contains(parts.count), !parts[0].isEmpty else {
            throw UsageError("--spread", "'\(text)' is not a spread rule", expected: expected)
        }
        var rule = Novacron_V1_SpreadRule()
        rule.vmGroup = parts[0]
        rule.scope = parts.count >= 2 ? try scope(parts[1], option: "--spread") : .zone
        if parts.count == 3 {
            guard let skew = Int32(parts[2]), skew >= 1 else {
                throw UsageError("--spread", "max skew '\(parts[2])' must be a whole number of at least 1", expected: expected)
            }
            rule.maxSkew = skew
        } else {
            rule.maxSkew = 1
        }
        return rule
    }

    /// "binpack", "spread" or "balanced".
    public static func strategy(_ text: String) throws(UsageError) -> Novacron_V1_PlacementStrategy {
        switch text.lowercased() {
        case "binpack": .binpack
        case "spread": .spread
        case "balanced": .balanced
        default: throw UsageError("--strategy", "unknown strategy '\(text)'", expected: "binpack, spread or balanced")
        }
    }

    /// "KEY=VALUE".
    public static func label(_ text: String, option: String = "--label") throws(UsageError) -> (String, String) {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
            throw UsageError(option, "'\(text)' is not KEY=VALUE", expected: "KEY=VALUE such as tier=gold")
        }
        return (String(text[..<eq]), String(text[text.index(after: eq)...]))
    }

    /// A duration such as "30s", "10m", "2h", "1d" or "1500ms".
    public static func duration(_ text: String, option: String) throws(UsageError) -> Duration {
        let expected = "a duration such as 500ms, 30s, 10m, 2h or 1d"
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        let digits = t.prefix { $0.isNumber || $0 == "." }
        guard let value = Double(digits), value >= 0 else { throw UsageError(option, "'\(text)' is not a duration", expected: expected) }
        let unit = t.dropFirst(digits.count)
        let seconds: Double
        switch unit {
        case "ms": seconds = value / 1000
        case "s", "": seconds = value
        case "m": seconds = value * 60
        case "h": seconds = value * 3600
        case "d": seconds = value * 86400
        default: throw UsageError(option, "unknown unit '\(unit)' in '\(text)'", expected: expected)
        }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// A point in time: a duration ago ("10m"), "beginning", or an ISO 8601 instant
    /// ("2026-11-23T17:00:00Z"). Returns milliseconds since 1970; `.min` for the beginning.
    public static func since(_ text: String, now: Date) throws(UsageError) -> Int64 {
        if text.lowercased() == "beginning" { return .min }
        if let date = ISO8601DateFormatter().date(from: text) { return Int64(date.timeIntervalSince1970 * 1000) }
        do {
            let ago = try duration(text, option: "--since")
            return Int64(now.timeIntervalSince1970 * 1000) - ago.components.seconds * 1000
                - ago.components.attoseconds / 1_000_000_000_000_000
        } catch {
            throw UsageError("--since", "'\(text)' is neither a duration nor a time", expected: "10m, 2h, 'beginning' or 2026-11-23T17:00:00Z")
        }
    }
}
