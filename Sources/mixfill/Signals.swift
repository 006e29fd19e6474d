import Foundation
import Synchronization

/// SIGINT and SIGTERM as requests to stop cleanly: the handler only records the signal;
/// the running fit sees it after its current iteration, writes a checkpoint and exits
/// with 128 + the signal's number (130, 143). A second signal ends the process at once
/// (outputs are atomic, so that loses the current iteration, never a file).
enum StopSignals {
    static let received = Atomic<Int32>(0)

    static func install() {
        _ = received.load(ordering: .relaxed)  // initialise before a handler can run
        signal(SIGINT, stopSignalHandler)
        signal(SIGTERM, stopSignalHandler)
        // A parent may have started us with these signals blocked (the mask is inherited
        // across exec); a blocked SIGTERM would wait unseen until the fit ends.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
    }

    /// The signal received, or nil.
    static func pending() -> Int32? {
        let value = received.load(ordering: .relaxed)
        return value == 0 ? nil : value
    }
}

private func stopSignalHandler(_ number: Int32) {
    let (first, _) = StopSignals.received.compareExchange(expected: 0, desired: number, ordering: .relaxed)
    if !first { _exit(128 + number) }
}
