import Foundation

/// Runs blocking work (poll, waitpid, sleeps in a C library) on a thread of its own, so it cannot starve the
/// two cooperative threads that the daemon under test and every other test share on a 2-core machine.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: body()) }
        thread.start()
    }
}
