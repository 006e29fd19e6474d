/// Every failure MixFill reports. Each message names the place (file:line:column, or the
/// option) and says what to do; `exitCode` follows the CLI's documented convention:
/// 2 for usage or bad input, 1 for a runtime failure, 128 + signal when interrupted.
public enum MixFillError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Malformed input at a position in a file (1-based line and column).
    case badInput(file: String, line: Int, column: Int, message: String)
    /// A problem with a whole file: missing, unreadable, empty, wrong shape.
    case badFile(file: String, message: String)
    /// An option value that cannot be used (`option` is spelled as on the command line).
    case badOption(option: String, message: String)
    /// A failure while running: I/O on output, an internal limit.
    case runtime(message: String)
    /// Stopped by a signal (SIGINT, SIGTERM) after saving what could be saved.
    case interrupted(signal: Int32, message: String)

    public var description: String {
        switch self {
        case let .badInput(file, line, column, message):
            return "\(file):\(line):\(column): \(message)"
        case let .badFile(file, message):
            return "\(file): \(message)"
        case let .badOption(option, message):
            return "\(option): \(message)"
        case let .runtime(message), let .interrupted(_, message):
            return message
        }
    }

    /// The message without its place.
    public var message: String {
        switch self {
        case let .badInput(_, _, _, message), let .badFile(_, message), let .badOption(_, message),
             let .runtime(message), let .interrupted(_, message):
            return message
        }
    }

    /// 2 = usage or bad input, 1 = runtime failure, 128 + the signal's number when
    /// interrupted (130 for SIGINT, 143 for SIGTERM, as shells report a signal death).
    public var exitCode: Int32 {
        switch self {
        case .badInput, .badFile, .badOption: return 2
        case .runtime: return 1
        case let .interrupted(signal, _): return 128 + signal
        }
    }
}
