import ArgumentParser
import Foundation
import MixFill
import MixFillTools

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert rating data to MixFill's binary rating file (or to text records).",
        discussion: """
            The binary file (versioned, checksummed, laid out for memory mapping) loads far \
            faster than text; every command reads it (--format auto detects it). A dense \
            matrix becomes records with user id = line and item id = column, from 0.
            """
    )

    @Argument(help: ArgumentHelp(DataArgument.help, valueName: "DATA"))
    var input: String

    @Argument(help: ArgumentHelp("Where to write the converted file.", valueName: "OUT"))
    var output: String

    @OptionGroup(title: HelpHeading.input) var inputOptions: DataOptions

    /// The formats `convert` writes (it reads every `RatingFormat`).
    enum OutputFormat: String, CaseIterable, ExpressibleByArgument {
        case binary, triplets, csv
    }

    @Option(help: ArgumentHelp("Format of the output: MixFill's binary rating file, or text records as tab-separated triplets or CSV with a header (default: csv when OUT ends in .csv, triplets for .tsv or .txt, else binary).", valueName: "FORMAT"))
    var to: OutputFormat?

    /// `--to`, or what OUT's extension asks for: a file named `.csv` holding binary bytes
    /// is a trap for whatever opens it next.
    var outputFormat: OutputFormat {
        if let to { return to }
        let name = output.lowercased()
        if name.hasSuffix(".csv") { return .csv }
        if name.hasSuffix(".tsv") || name.hasSuffix(".txt") { return .triplets }
        return .binary
    }

    func validate() throws {
        try refuseStandardOutput([("OUT", output)])
    }

    func run() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let loaded = try LoadedRatings.load(input, inputOptions).input
        let readSeconds = (clock.now - start).seconds
        let table = loaded.table
        let to = outputFormat
        if to == .binary {
            try BinaryRatingFile.write(table, to: output)
        } else {
            try RecordWriter.write(table, to: output, layout: to == .csv ? .csv : .triplets)
        }
        let writeSeconds = (clock.now - start).seconds - readSeconds
        print("wrote \(output) (\(to.rawValue)): \(counted(table.matrix.observedCount, "rating")), \(counted(table.matrix.userCount, "user")) × \(counted(table.matrix.itemCount, "item")); read \(loaded.format.rawValue) in \(fixed(readSeconds, 2)) s, wrote in \(fixed(writeSeconds, 2)) s")
    }
}
