import Foundation

extension JSONEncoder {
    /// `value` as JSON laid out by `formatting`, with a final line break: the bytes of a JSON
    /// file mixfill writes (model files, the batch's results). When encoding fails, the
    /// error says `what` could not be encoded.
    package static func fileBytes<Value: Encodable>(_ value: Value, formatting: OutputFormatting,
                                                    what: String) throws(MixFillError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = formatting
        do {
            return Array(try encoder.encode(value)) + [UInt8(ascii: "\n")]
        } catch {
            throw .runtime(message: "cannot encode \(what): \(error)")
        }
    }
}
