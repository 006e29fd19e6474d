import Foundation
import MixFill

/// Prints one JSON object on stdout: pretty, keys sorted, slashes unescaped (as `fit --json`).
func printJSON(_ value: some Encodable) throws {
    try writeStandardOutput(try encodeJSON(value) + Data("\n".utf8))
}

/// Writes to stdout. A write that fails (stdout redirected to a full disk or /dev/full)
/// throws a runtime failure (exit 1) naming standard output and the system's reason —
/// FileHandle's non-throwing `write(_:)` would trap, and its throwing one says neither.
func writeStandardOutput(_ data: Data) throws {
    if let code = data.withUnsafeBytes({ FileBytes.writeAll($0, to: STDOUT_FILENO) }) {
        throw MixFillError.runtime(message: "standard output: cannot write: \(FileBytes.describe(code)); the report was not written in full")
    }
}

func encodeJSON(_ value: some Encodable) throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return try encoder.encode(value)
}

func printText(_ text: String) throws {
    try writeStandardOutput(Data(text.utf8))
}

/// A plain-text table: a header row and rows, columns right-aligned except those named
/// left-aligned, two spaces apart, each line indented by `indent`.
struct TextTable {
    var header: [String]
    var rows: [[String]] = []
    var leftAligned: Set<Int> = []
    var indent = "  "

    var rendered: String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
        var text = ""
        for row in all {
            let cells = row.indices.map { column -> String in
                let cell = row[column]
                let padding = String(repeating: " ", count: max(0, widths[column] - cell.count))
                return leftAligned.contains(column) ? cell + padding : padding + cell
            }
            var line = indent + cells.joined(separator: "  ")
            while line.hasSuffix(" ") { line.removeLast() }
            text += line + "\n"
        }
        return text
    }
}
