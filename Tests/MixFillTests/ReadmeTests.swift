import Foundation
import Testing

/// The README is for users: short, the two set-up commands on its first screen, nothing
/// that dates (dates and clock times belong to bench/ and CHANGELOG.md), and every link
/// pointing at a file that exists. The same link check covers the other documents.
@Suite struct ReadmeTests {
    static func text(_ path: String) throws -> String {
        try String(contentsOfFile: Fixtures.root + "/" + path, encoding: .utf8)
    }

    @Test func readmeIsShortAndStartsWithTheSetUpCommands() throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Fixtures.root + "/README.md")).count
        #expect(bytes <= 16_384, "README.md is \(bytes) bytes; keep it at most 16 KB and move reference text to docs/")
        let head = try Self.text("README.md").split(separator: "\n", omittingEmptySubsequences: false).prefix(40).joined(separator: "\n")
        #expect(head.contains("Scripts/demo"), "Scripts/demo is not in README's first 40 lines")
        #expect(head.contains("Scripts/test"), "Scripts/test is not in README's first 40 lines")
    }

    @Test func readmeHoldsNoDateAndNoClockTime() throws {
        let readme = try Self.text("README.md")
        let months = "(January|February|March|April|May|June|July|August|September|October|November|December"
            + "|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\\.?"
        let patterns = [
            "\\b(19|20)\\d\\d-[01]\\d-[0-3]\\d\\b",                    // 2026-11-29
            "\\b\(months)\\s+([0-3]?\\d(st|nd|rd|th)?,?\\s+)?(19|20)\\d\\d\\b",   // November 2026, Nov 29, 2026
            "\\b[0-3]?\\d\\s+\(months)\\s+(19|20)\\d\\d\\b",           // 29 November 2026
            "\\b([01]?\\d|2[0-3]):[0-5]\\d\\b",                        // 14:49
        ]
        for pattern in patterns {
            let expression = try NSRegularExpression(pattern: pattern)
            let matches = expression.matches(in: readme, range: NSRange(readme.startIndex..., in: readme))
            let found = matches.compactMap { Range($0.range, in: readme).map { String(readme[$0]) } }
            #expect(found.isEmpty, "README.md holds a date or a clock time: \(found); dated figures go to bench/ or CHANGELOG.md")
        }
    }

    /// README.md, CHANGELOG.md, CONTRIBUTING.md and docs/*.md: every relative link, its
    /// anchor stripped, names a file or folder of the repository.
    @Test func relativeLinksResolve() throws {
        let manager = FileManager.default
        var documents = ["README.md", "CHANGELOG.md", "CONTRIBUTING.md"]
        let docs = try manager.contentsOfDirectory(atPath: Fixtures.root + "/docs")
        documents += docs.filter { $0.hasSuffix(".md") }.sorted().map { "docs/" + $0 }
        var checked = 0
        for document in documents {
            let targets = try Self.links(in: Self.text(document))
            let folder = URL(fileURLWithPath: Fixtures.root + "/" + document).deletingLastPathComponent()
            for target in targets {
                var path = target
                if let hash = path.firstIndex(of: "#") { path = String(path[..<hash]) }
                if path.isEmpty { continue }   // an anchor in the same document
                if path.contains("://") || path.hasPrefix("mailto:") { continue }
                let resolved = folder.appendingPathComponent(path.removingPercentEncoding ?? path).standardizedFileURL.path
                #expect(resolved.hasPrefix(Fixtures.root + "/"), "\(document): \(target) leads out of the repository")
                #expect(manager.fileExists(atPath: resolved), "\(document): the link \(target) names no file")
                checked += 1
            }
        }
        #expect(checked >= 10, "only \(checked) relative links found; the parser is broken")
    }

    /// Link targets of `[text](target)`, `![alt](target)` and `[name]: target` outside code.
    static func links(in markdown: String) throws -> [String] {
        var prose = [String]()
        var fenced = false
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("```") { fenced.toggle(); continue }
            if fenced { continue }
            // Inline code spans hold examples, not links.
            prose.append(line.replacingOccurrences(of: "`[^`]*`", with: "", options: .regularExpression))
        }
        let text = prose.joined(separator: "\n")
        var targets = [String]()
        let inline = try NSRegularExpression(pattern: "\\]\\(\\s*<?([^)\\s>]+)>?(\\s+\"[^\"]*\")?\\s*\\)")
        let reference = try NSRegularExpression(pattern: "(?m)^\\s{0,3}\\[[^\\]]+\\]:\\s*<?(\\S+?)>?(\\s|$)")
        for expression in [inline, reference] {
            for match in expression.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                if let range = Range(match.range(at: 1), in: text) { targets.append(String(text[range])) }
            }
        }
        return targets
    }
}
