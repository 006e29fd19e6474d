import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing

@Suite struct DenseReaderTests {
    func parse(_ text: String) throws(MixFillError) -> DenseRatingMatrix {
        try DenseMatrixReader.parse(Array(text.utf8), name: "ratings.txt")
    }

    @Test func readsTheCourseFormat() throws {
        let matrix = try parse("2 5 3 0 0\n3 5 0 4 3\n")
        #expect(matrix.userCount == 2 && matrix.itemCount == 5)
        #expect(matrix.values == [2, 5, 3, 0, 0, 3, 5, 0, 4, 3])
        #expect(matrix.observedCount == 7)
    }

    @Test func acceptsDecimalsExponentsTabsCRLFCommentsAndBlankLines() throws {
        let matrix = try parse("# header comment\r\n1.5\t2e0  0.25e1\r\n\n  3 0 4.75 # trailing comment\n\n")
        #expect(matrix.values == [1.5, 2, 2.5, 3, 0, 4.75])
    }

    @Test func parsesLikeStrtodEvenForLongSignificands() throws {
        let text = "0.1 0.30000000000000004 123456789012345678901234 1e-300 2.2250738585072014e-308\n"
        let matrix = try parse(text)
        #expect(matrix.values == [0.1, 0.30000000000000004, 123456789012345678901234.0, 1e-300, 2.2250738585072014e-308])
    }

    @Test func readsTheNetflixMatrix() throws {
        let matrix = try #require(Fixtures.netflix)
        #expect(matrix.userCount == 1200 && matrix.itemCount == 1200)
        #expect(matrix.observedCount == 1_111_768)
        #expect(matrix[0, 0] == 2 || matrix[0, 0] == 0)
    }

    @Test func raggedRowsNameLineAndColumn() {
        #expect(throws: MixFillError.badInput(file: "ratings.txt", line: 2, column: 4,
            message: "row has 2 values but line 1 has 3; every row must have one value per item")) {
            try parse("1 2 3\n4 5\n")
        }
        #expect(throws: MixFillError.badInput(file: "ratings.txt", line: 3, column: 7,
            message: "row has more than 3 values (line 1 has 3); every row must have one value per item")) {
            try parse("1 2 3\n4 5 6\n1 2 3 4\n")
        }
    }

    @Test func nonNumericTokenIsRejected() {
        #expect(throws: MixFillError.badInput(file: "ratings.txt", line: 2, column: 3,
            message: "'x4' is not a number; ratings are decimal numbers, 0 for missing")) {
            try parse("1 2 3\n4 x4 6\n")
        }
        #expect(throws: MixFillError.badInput(file: "ratings.txt", line: 1, column: 1,
            message: "'0x10' is not a number; ratings are decimal numbers, 0 for missing")) {
            try parse("0x10 1\n")
        }
    }

    @Test func negativeAndNonFiniteValuesAreRejected() {
        #expect(throws: MixFillError.badInput(file: "ratings.txt", line: 1, column: 3,
            message: "negative rating '-2'; ratings must be ≥ 0 (0 marks a missing entry)")) {
            try parse("1 -2 3\n")
        }
        for token in ["nan", "inf", "-inf", "1e400"] {
            #expect(throws: MixFillError.badInput(file: "ratings.txt", line: 1, column: 3,
                message: "'\(token)' is not a finite number; ratings must be finite, 0 for missing")) {
                try parse("1 \(token) 3\n")
            }
        }
    }

    @Test func emptyFilesAreRejected() {
        for text in ["", "\n\n", "# only a comment\n   \n"] {
            #expect(throws: MixFillError.badFile(file: "ratings.txt",
                message: "no ratings found (the file is empty or holds only blank lines and comments); give a matrix with one user per line")) {
                try parse(text)
            }
        }
    }

    @Test func missingFileAndFolderAreNamed() throws {
        #expect(throws: MixFillError.badFile(file: "/nonexistent/ratings.txt", message: "no such file; check the path")) {
            try DenseMatrixReader.read(path: "/nonexistent/ratings.txt")
        }
        let folder = try Fixtures.scratchFolder()
        #expect(throws: MixFillError.badFile(file: folder, message: "is a directory, not a file; give the path of a file")) {
            try DenseMatrixReader.read(path: folder)
        }
    }

    @Test func writerRoundTripsExactly() throws {
        let matrix = DenseRatingMatrix(rows: [[1, 0, 3.945542031234568], [0.1, 2, 1e-7]])
        let bytes = DenseMatrixWriter.encode(matrix)
        #expect(String(decoding: bytes, as: UTF8.self) == "1 0 3.945542031234568\n0.1 2 1e-07\n")
        #expect(try DenseMatrixReader.parse(bytes, name: "round trip") == matrix)
    }

    @Test func atomicWriteLeavesNoTemporaryFileAndReplacesTheTarget() throws {
        let folder = try Fixtures.scratchFolder()
        let path = folder + "/out.txt"
        try AtomicFile.write(Array("first\n".utf8), to: path)
        try AtomicFile.write(Array("second\n".utf8), to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "second\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["out.txt"])
        #expect(throws: MixFillError.self) {
            try AtomicFile.write(Array("x".utf8), to: folder + "/missing-folder/out.txt")
        }
    }
}
