import Crypto

/// SHA-256 (FIPS 180-4) for content hashes: a batch job's identity, a data file's hash,
/// and checkpoint integrity. Streaming: `update` any number of times, then `finalize`.
/// swift-crypto's implementation (BoringSSL's, with the CPU's SHA instructions where it
/// has them), chosen over the portable one MixFill had by the comparison in
/// bench/hashing.md, so that a batch job's data hash costs little beside parsing the file.
package struct ContentHasher {
    private var hasher = Crypto.SHA256()

    package init() {}

    /// The hash of `bytes` as 64 lowercase hex digits.
    package static func hex(_ bytes: [UInt8]) -> String {
        var hasher = ContentHasher()
        hasher.update(bytes)
        return hasher.finalizeHex()
    }

    package mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
    }

    package mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    package mutating func update(_ bytes: ArraySlice<UInt8>) {
        bytes.withUnsafeBytes { update($0) }
    }

    package mutating func update(_ text: String) {
        update(Array(text.utf8))
    }

    /// The 32-byte digest.
    package func finalize() -> [UInt8] {
        Array(hasher.finalize())
    }

    /// The digest as 64 lowercase hex digits.
    package func finalizeHex() -> String {
        finalize().map { byte in
            let digits = String(byte, radix: 16)
            return byte < 16 ? "0" + digits : digits
        }.joined()
    }
}
