import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A parsed XML document as a tree of elements (name, text, children): enough to read the
/// EC2 Query API's responses, which are plain nested elements with text leaves.
public struct XMLTree: Sendable, Hashable {
    public var name: String
    public var text: String
    public var children: [XMLTree]

    public init(name: String, text: String = "", children: [XMLTree] = []) {
        self.name = name
        self.text = text
        self.children = children
    }

    /// Parses `bytes`; nil when they are not well-formed XML.
    public static func parse(_ bytes: [UInt8]) -> XMLTree? {
        let delegate = TreeBuilder()
        let parser = XMLParser(data: Data(bytes))
        parser.delegate = delegate
        guard parser.parse(), let root = delegate.root else { return nil }
        return root
    }

    /// The first child named `name`.
    public func child(_ name: String) -> XMLTree? { children.first { $0.name == name } }

    /// The element at a path of child names (`["instancesSet", "item"]`).
    public func at(_ path: String...) -> XMLTree? {
        var node: XMLTree? = self
        for name in path { node = node?.child(name) }
        return node
    }

    /// The text at a path, or "" when it is missing.
    public func text(_ path: String...) -> String {
        var node: XMLTree? = self
        for name in path { node = node?.child(name) }
        return node?.text ?? ""
    }

    /// Every element named `name` anywhere below, in document order.
    public func all(_ name: String) -> [XMLTree] {
        children.flatMap { ($0.name == name ? [$0] : []) + $0.all(name) }
    }
}

/// Builds the tree as the parser walks the document. Used by one parse on one thread.
private final class TreeBuilder: NSObject, XMLParserDelegate {
    var stack: [XMLTree] = []
    var root: XMLTree?

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        stack.append(XMLTree(name: name))
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        guard !stack.isEmpty else { return }
        stack[stack.count - 1].text += string
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        guard var done = stack.popLast() else { return }
        done.text = done.text.trimmingCharacters(in: .whitespacesAndNewlines)
        if stack.isEmpty { root = done } else { stack[stack.count - 1].children.append(done) }
    }
}
