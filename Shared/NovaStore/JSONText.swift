/// JSON text for values bound as `jsonb`. Postgres has no arrays of arrays of varying length,
/// so a batch's lists of strings travel as one `jsonb[]`; written by hand because a
/// `JSONEncoder` per row showed in profiles.
public enum JSONText {
    /// `strings` as a JSON array of strings.
    public static func array(_ strings: [String]) -> String {
        var json = "["
        for (i, string) in strings.enumerated() {
            if i > 0 { json += "," }
            json += "\""
            for scalar in string.unicodeScalars {
                switch scalar {
                case "\"": json += "\\\""
                case "\\": json += "\\\\"
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    json += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: json.unicodeScalars.append(scalar)
                }
            }
            json += "\""
        }
        return json + "]"
    }
}
