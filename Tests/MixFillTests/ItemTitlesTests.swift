import Foundation
import MixFill
import Testing

/// Titles from MovieLens movies files (`recommend --items`): movies.csv with RFC 4180
/// quoting, and 1M/10M's movies.dat.
@Suite struct ItemTitlesTests {
    func parse(_ text: String) throws(MixFillError) -> ItemTitles {
        try ItemTitles.parse(Array(text.utf8), name: "movies.csv")
    }

    @Test func moviesCSVWithQuotedCommasAndQuotes() throws {
        // Lines as they stand in ml-latest-small's movies.csv (the last one with a quote
        // inside a quoted title), genres ignored.
        let titles = try parse("""
            movieId,title,genres
            1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy
            11,"American President, The (1995)",Comedy|Drama|Romance
            3039,Trading Places (1983),Comedy
            140,"Up Close & Personal (1996)",Drama|Romance
            7,"Sabrina, ""Sabrina"" (1995)",Comedy

            """)
        #expect(titles.titles == ["1": "Toy Story (1995)", "11": "American President, The (1995)", "3039": "Trading Places (1983)",
                                  "140": "Up Close & Personal (1996)", "7": "Sabrina, \"Sabrina\" (1995)"])
        // CRLF, a BOM, blanks around fields, a comment, no header, a field missing its
        // line end at the end of the file, and a quoted title over two lines.
        let untidy = try parse("\u{FEFF}# movies\r\n1 , Toy Story (1995) ,Animation\r\n 11,\"American President, The (1995)\" , Comedy\r\n\r\n12,\"Two\nlines\",Drama\r\n13,Last")
        #expect(untidy.titles == ["1": "Toy Story (1995)", "11": "American President, The (1995)", "12": "Two\nlines", "13": "Last"])
    }

    /// Book-Crossing's BX-Books.csv: `;`-separated, every field quoted, ISBNs as text ids,
    /// Latin-1 titles, a title ending in a backslash before its closing quote; and a
    /// two-column `;` file. The first line decides; a comma inside a quoted field does not.
    @Test func semicolonSeparatedTitles() throws {
        let books: [UInt8] = Array("\"ISBN\";\"Book-Title\";\"Book-Author\";\"Year-Of-Publication\"\n".utf8)
            + Array("\"0195153448\";\"Classical Mythology\";\"Mark P. O. Morford\";\"2002\"\n".utf8)
            + Array("\"0789466953\";\"DK Readers: Creating the X-Men, How Comic Books Come to Life\\\";\"James Buckley\";\"2000\"\n".utf8)
            + Array("\"3404921038\";\"Das gro".utf8) + [0xDF] + Array("e Buch\";\"X\";\"1999\"\n".utf8)
        let titles = try ItemTitles.parse(books, name: "BX-Books.csv")
        #expect(titles.titles == ["0195153448": "Classical Mythology",
                                  "0789466953": "DK Readers: Creating the X-Men, How Comic Books Come to Life\\",
                                  "3404921038": "Das große Buch"])
        #expect(try parse("movieId;title\n1;Toy Story (1995)\n11;\"American President; The\"\n").titles
            == ["1": "Toy Story (1995)", "11": "American President; The"])
        #expect(try parse("movieId,title,genres\n11,American President; The; Again (1995),Comedy\n").titles
            == ["11": "American President; The; Again (1995)"])
        #expect(throws: MixFillError.badInput(file: "movies.csv", line: 2, column: 8, message: "'x' follows a closing quote; a quoted field ends at its closing quote, before a ';' (write a '\"' inside a title as '\"\"')")) {
            try parse("id;title\n1;\"Toy\"x;z\n")
        }
    }

    /// movies.csv written back by pandas (`to_csv` without `index=False`) or R
    /// (`write.csv`): the unnamed first column is a row index, not the movie id.
    @Test func moviesCSVWithARowIndexColumn() throws {
        let expected: [String: String] = ["1": "Toy Story (1995)", "11": "American President, The (1995)"]
        let pandas = try parse(",movieId,title,genres\n0,1,Toy Story (1995),Adventure\n1,11,\"American President, The (1995)\",Comedy\n")
        #expect(pandas.titles == expected)
        let r = try parse("\"\",\"movieId\",\"title\",\"genres\"\n\"1\",1,\"Toy Story (1995)\",\"Adventure\"\n\"2\",11,\"American President, The (1995)\",\"Comedy\"\n")
        #expect(r.titles == expected)
        #expect(throws: MixFillError.badInput(file: "movies.csv", line: 2, column: 2, message:
            "line has 1 field; under a header whose first column is unnamed (a row index), a line is 'index,movieId,title,genres'")) {
            try parse(",movieId,title,genres\n0\n")
        }
    }

    @Test func moviesDatWithLatin1Titles() throws {
        // MovieLens 1M's movies.dat is ISO-8859-1: 0xE9 is é there, and invalid as UTF-8.
        let bytes = Array("1::Toy Story (1995)::Animation|Children's|Comedy\n2::Jumanji, The (1995)::Adventure\n".utf8)
            + Array("3::Cit".utf8) + [0xE9] + Array(" (1999)::Drama\r\n".utf8)
        let titles = try ItemTitles.parse(bytes, name: "movies.dat")
        #expect(titles.titles == ["1": "Toy Story (1995)", "2": "Jumanji, The (1995)", "3": "Cité (1999)"])
        // UTF-8 stays UTF-8.
        #expect(try parse("4::Amélie (2001)::Comedy\n")[4] == "Amélie (2001)")
    }

    static let malformed: [(String, MixFillError)] = [
        ("movieId,title,genres\n1,\"Toy Story (1995),Animation\n2,Jumanji (1995),Adventure\n",
         .badInput(file: "movies.csv", line: 2, column: 3, message: "the quoted field that starts here is never closed; end it with '\"' (a '\"' inside a title is written '\"\"')")),
        ("movieId,title,genres\n1,\"Toy Story\" (1995),Animation\n",
         .badInput(file: "movies.csv", line: 2, column: 15, message: "'(1995)' follows a closing quote; a quoted field ends at its closing quote, before a comma (write a '\"' inside a title as '\"\"')")),
        ("movieId,title,genres\n1\n", .badInput(file: "movies.csv", line: 2, column: 2, message: "line has 1 field, no title; a movies.csv line is 'movieId,title,genres'")),
        ("movieId,title,genres\n1.5,Toy Story (1995),Animation\n", .badInput(file: "movies.csv", line: 2, column: 1, message: "'1.5' is not an item id; ids are whole numbers")),
        ("1,Toy Story (1995),Animation\n2,Jumanji (1995),Adventure\n1,Toy Story again,Animation\n",
         .badInput(file: "movies.csv", line: 3, column: 1, message: "item 1 is listed twice (first on line 1); give each item one title")),
        ("1::Toy Story (1995)::Animation\n2\n", .badInput(file: "movies.csv", line: 2, column: 2, message: "line has 1 field, no title; a movies.dat line is 'movieId::title::genres'")),
        ("1,Toy Story (1995)\n99999999999999999999,Too big\n", .badInput(file: "movies.csv", line: 2, column: 1, message: "item id '99999999999999999999' does not fit in 64 bits; ids must lie within ±9223372036854775807")),
    ]

    @Test func malformedFilesAreRefusedWithThePlace() {
        for (text, error) in Self.malformed {
            #expect(throws: error, "\(text.debugDescription)") { try parse(text) }
        }
    }

    /// Short strings of the bytes that matter to the parser (quotes, separators, line
    /// ends, digits, NUL, 0xFF), 2,000 of them from a fixed seed: each either parses or
    /// is refused with a one-line message naming a place (Scripts/fuzz's `titles` target
    /// runs the same check on mutated inputs).
    @Test func shortByteStringsParseOrAreRefusedWithAPlace() {
        let alphabet: [UInt8] = [UInt8(ascii: "\""), UInt8(ascii: ","), UInt8(ascii: ":"), UInt8(ascii: "\n"),
                                 UInt8(ascii: "\r"), UInt8(ascii: "1"), UInt8(ascii: " "), 0x00, 0xFF, UInt8(ascii: "a")]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            // xorshift64: the same inputs every run.
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int(state % 1_000_003)
        }
        var refused = 0
        for _ in 0..<2000 {
            let bytes = (0..<(next() % 40)).map { _ in alphabet[next() % alphabet.count] }
            do {
                let titles = try ItemTitles.parse(bytes, name: "m.csv")
                #expect(titles.count <= bytes.count, "\(bytes)")
            } catch {
                refused += 1
                #expect(error.exitCode == 2 && !error.description.contains("\n") && error.description.hasPrefix("m.csv:"), "\(bytes): \(error)")
            }
        }
        #expect(refused > 0 && refused < 2000)
    }
}
