import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing

/// The binary rating file: round trips, and every kind of damage refused with a message.
@Suite struct BinaryRatingFileTests {
    @Test func checksumIsXXH64() {
        // Reference values from the xxHash library (libxxhash 0.8.1, XXH64 with seed 0).
        #expect(Checksum.xxh64([]) == 0xEF46_DB37_51D8_E999)
        #expect(Checksum.xxh64(Array("a".utf8)) == 0xD24E_C4F1_A98C_6E5B)
        #expect(Checksum.xxh64(Array("abc".utf8)) == 0x44BC_2CF5_AD77_0999)
        #expect(Checksum.xxh64(Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)) == 0x6919_6C1B_3AF0_BFF9)
        let long = (0..<3).flatMap { _ in (0..<256).map { UInt8($0) } } + Array("xyz".utf8)
        #expect(Checksum.xxh64(long) == 0xE921_A1B4_5BD7_79F8)
        #expect(Checksum.xxh64(long, seed: 2_654_435_761) == 0xF4D7_0D6F_815A_5B88)
    }

    func table(_ text: String, _ layout: RecordLayout = .triplets) throws -> RatingTable {
        try RecordReader.parse(Array(text.utf8), name: "ratings", layout: layout)
    }

    @Test func roundTripsEveryStorageKind() throws {
        let folder = try Fixtures.scratchFolder()
        let coded = try table("5 100 4.5\n5 7 1\n-3 100 2\n")
        let exact = try table((0..<300).map { "\($0 % 5) \($0) \(Double($0) / 3)" }.joined(separator: "\n"))
        let wide = try table((0..<70_000).map { "\($0 % 9) \($0 * 2) \($0 % 5 + 1)" }.joined(separator: "\n"))
        let dense = RatingTable(dense: try Fixtures.load(Fixtures.smallIncomplete))
        for (name, original) in [("coded", coded), ("exact", exact), ("wide", wide), ("dense", dense)] {
            let path = folder + "/\(name).mfr"
            try BinaryRatingFile.write(original, to: path)
            let loaded = try BinaryRatingFile.read(path: path)
            #expect(loaded == original, "\(name)")
            #expect(try RatingFormat.detect(path: path) == .binary)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).allSatisfy { !$0.hasPrefix(".") })
    }

    @Test func headerLayoutIsAsDocumented() throws {
        let folder = try Fixtures.scratchFolder()
        let path = folder + "/small.mfr"
        try BinaryRatingFile.write(try table("5 100 4.5\n5 7 1\n-3 100 2\n"), to: path)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(Array(bytes[0..<8]) == Array("MIXFILLR".utf8))
        #expect(bytes[8] == 1 && bytes[12] == 2 && bytes[13] == 1)  // version 1, 16-bit items, coded ratings
        func word(_ offset: Int) -> UInt64 {
            bytes[offset..<(offset + 8)].reversed().reduce(0) { $0 << 8 | UInt64($1) }
        }
        #expect([word(16), word(24), word(32), word(40), word(48)] == [2, 2, 3, 3, 0])
        // Sections start on 64-byte boundaries after the 256-byte header: user ids first.
        #expect(word(56) == 256 && word(64) == 16)
        #expect(word(256) == UInt64(bitPattern: -3) && word(264) == 5)
    }

    /// Writes a valid file, applies `damage` to its bytes and returns the error reading it.
    func damaged(_ damage: (inout [UInt8]) -> Void) throws -> MixFillError? {
        let folder = try Fixtures.scratchFolder()
        let path = folder + "/damaged.mfr"
        try BinaryRatingFile.write(try table("5 100 4.5\n5 7 1\n-3 100 2\n8 7 3\n"), to: path)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        damage(&bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            _ = try BinaryRatingFile.read(path: path)
            return nil
        } catch {
            return error
        }
    }

    func message(_ error: MixFillError?) -> String {
        guard case let .badFile(_, message) = error else { return "no badFile error: \(String(describing: error))" }
        return message
    }

    @Test func everyDamagedSectionIsDetected() throws {
        let sections = ["user ids": 256, "item ids": 320, "row starts": 384, "item indices": 448, "ratings": 512, "palette": 576]
        for (name, offset) in sections {
            let error = try damaged { $0[offset] ^= 0x01 }
            #expect(message(error) == "the \(name) section's checksum does not match: the file is damaged; convert the original file again with 'mixfill convert'", "\(name)")
        }
        let header = try damaged { $0[20] ^= 0x40 }
        #expect(message(header) == "header checksum does not match: the file is damaged; convert the original file again with 'mixfill convert'")
    }

    @Test func truncatedNewerAndForeignFilesAreRefused() throws {
        let truncated = try damaged { $0.removeLast(10) }
        #expect(message(truncated).hasPrefix("the palette section lies outside the file or has the wrong size (the file is truncated or damaged)"))
        let short = try damaged { $0.removeLast($0.count - 100) }
        #expect(message(short) == "is too short for a MixFill binary rating file (100 bytes); convert the original file again with 'mixfill convert'")
        let newer = try damaged { $0[8] = 3 }
        #expect(message(newer) == "binary rating file version 3 is newer than this MixFill reads (2); upgrade MixFill or convert the text file again")
        let foreign = try damaged { $0[0] = UInt8(ascii: "X") }
        #expect(message(foreign) == "is not a MixFill binary rating file (no MIXFILLR header); give a file written by 'mixfill convert'")
    }

    @Test func consistentButInvalidContentsAreRefused() throws {
        // Swap the two user ids and recompute the checksums: ids must ascend.
        let error = try damaged { bytes in
            let first = Array(bytes[256..<264])
            bytes.replaceSubrange(256..<264, with: bytes[264..<272])
            bytes.replaceSubrange(264..<272, with: first)
            let checksum = Checksum.xxh64(Array(bytes[256..<(256 + 24)]))
            withUnsafeBytes(of: checksum.littleEndian) { bytes.replaceSubrange(72..<80, with: $0) }
            let headerSum = Checksum.xxh64(Array(bytes[0..<200]))
            withUnsafeBytes(of: headerSum.littleEndian) { bytes.replaceSubrange(200..<208, with: $0) }
        }
        #expect(message(error) == "its checksums match but ids are not in ascending order; it was not written by MixFill; convert the original file again with 'mixfill convert'")
    }

    /// Text ids (version 2): the names sections after the palette, a name and a line feed
    /// each; a column of numbers beside them keeps its ids, and a file without names stays
    /// version 1 (`headerLayoutIsAsDocumented`), which older MixFill reads.
    @Test func textIdsRoundTripInVersion2() throws {
        let folder = try Fixtures.scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let users = try table("A2SUAM1J3GNN3B,7,4.5\njane.doe@example.com,100,1\nA2SUAM1J3GNN3B,100,2\n", .csv)
        let both = try table("A2SUAM1J3GNN3B,034545104X,4.5\nÅsa,0155061224,1\n", .csv)
        #expect(users.users.names != nil && users.items.names == nil && both.items.names != nil)
        for (name, original) in [("users", users), ("both", both)] {
            let path = folder + "/\(name).mfr"
            try BinaryRatingFile.write(original, to: path)
            #expect(try BinaryRatingFile.read(path: path) == original, "\(name)")
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            #expect(bytes[8] == 2 && bytes[14] == (name == "users" ? 1 : 3), "\(name): version 2, text ids")
        }
        // The user names section (the seventh, at header offset 56 + 6 × 24) as documented.
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/users.mfr")))
        func word(_ offset: Int) -> Int {
            Int(bytes[offset..<(offset + 8)].reversed().reduce(0) { $0 << 8 | UInt64($1) })
        }
        let (offset, count) = (word(200), word(208))
        #expect(String(decoding: bytes[offset..<(offset + count)], as: UTF8.self) == "A2SUAM1J3GNN3B\njane.doe@example.com\n")
        #expect(word(224 + 8) == 0, "no item names")

        // Damaged names are refused: a flipped byte by the checksum, names out of order
        // (with the checksums made to match) by the contents check.
        var flipped = bytes
        flipped[offset] ^= 0x01
        try Data(flipped).write(to: URL(fileURLWithPath: folder + "/flipped.mfr"))
        #expect(throws: MixFillError.badFile(file: folder + "/flipped.mfr", message: "the user names section's checksum does not match: the file is damaged; convert the original file again with 'mixfill convert'")) {
            try BinaryRatingFile.read(path: folder + "/flipped.mfr")
        }
        var swapped = bytes
        swapped.replaceSubrange(offset..<(offset + count), with: Array("jane.doe@example.com\nA2SUAM1J3GNN3B\n".utf8))
        withUnsafeBytes(of: Checksum.xxh64(Array(swapped[offset..<(offset + count)])).littleEndian) { swapped.replaceSubrange(216..<224, with: $0) }
        withUnsafeBytes(of: Checksum.xxh64(Array(swapped[0..<248])).littleEndian) { swapped.replaceSubrange(248..<256, with: $0) }
        try Data(swapped).write(to: URL(fileURLWithPath: folder + "/swapped.mfr"))
        #expect(throws: MixFillError.badFile(file: folder + "/swapped.mfr", message: "its checksums match but the user names are not 2 distinct names in ascending order; it was not written by MixFill; convert the original file again with 'mixfill convert'")) {
            try BinaryRatingFile.read(path: folder + "/swapped.mfr")
        }
    }

    @Test func convertWritesABinaryFileEveryCommandReads() throws {
        let folder = try Fixtures.scratchFolder()
        let csv = try Fixtures.write("userId,movieId,rating\n1,10,4\n1,20,3.5\n2,10,5\n3,20,1\n3,30,2\n", named: "r.csv", in: folder)
        let convert = try CLI.run(["convert", csv, folder + "/r.mfr"])
        #expect(convert.status == 0, "\(convert.stderr)")
        #expect(convert.stdout.hasPrefix("wrote \(folder)/r.mfr (binary): 5 ratings, 3 users × 3 items; read csv in "))
        // Without --to, a text extension writes text: .csv a CSV, .tsv or .txt triplets.
        for (name, format) in [("out.csv", RatingFormat.csv), ("out.TSV", .triplets), ("out.txt", .triplets)] {
            let text = try CLI.succeeded(["convert", csv, folder + "/" + name])
            #expect(text.stdout.hasPrefix("wrote \(folder)/\(name) (\(format == .csv ? "csv" : "triplets")):"), "\(text.stdout)")
            #expect(try RatingFormat.detect(path: folder + "/" + name) == format, "\(name)")
        }
        let fromText = try CLI.run(["fit", csv, "-k", "2", "--seeds", "0-2", "--json"])
        let fromBinary = try CLI.run(["fit", folder + "/r.mfr", "-k", "2", "--seeds", "0-2", "--json"])
        #expect(fromText.status == 0 && fromBinary.status == 0)
        let textRuns = try #require(try JSONSerialization.jsonObject(with: Data(fromText.stdout.utf8)) as? [String: Any])
        let binaryRuns = try #require(try JSONSerialization.jsonObject(with: Data(fromBinary.stdout.utf8)) as? [String: Any])
        let textBest = ((textRuns["fits"] as? [[String: Any]])?.first?["best"] as? [String: Any])?["log_likelihood"] as? Double
        let binaryBest = ((binaryRuns["fits"] as? [[String: Any]])?.first?["best"] as? [String: Any])?["log_likelihood"] as? Double
        #expect(textBest != nil && textBest == binaryBest)
        let back = try CLI.run(["convert", folder + "/r.mfr", folder + "/back.csv", "--to", "csv"])
        #expect(back.status == 0)
        #expect(try String(contentsOfFile: folder + "/back.csv", encoding: .utf8) == "userId,itemId,rating\n1,10,4\n1,20,3.5\n2,10,5\n3,20,1\n3,30,2\n")
        let damagedPath = folder + "/r.mfr"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: damagedPath)))
        bytes[bytes.count - 1] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: damagedPath))
        let line = try CLI.usageFailure(["fit", damagedPath])
        #expect(line == "mixfill: error: \(damagedPath): the palette section's checksum does not match: the file is damaged; convert the original file again with 'mixfill convert'")
    }
}
