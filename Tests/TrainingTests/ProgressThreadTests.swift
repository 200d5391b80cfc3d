import Foundation
import Synchronization
import Testing
@testable import Training

/// The MPI progress thread polls only while a reduction is pending: it parks when a poll finds
/// nothing pending and polls again only when woken (a new bucket) or stopped.
struct ProgressThreadTests {
    /// Polls counted across threads.
    final class Counter: Sendable {
        let value = Atomic<Int>(0)
        func load() -> Int { value.load(ordering: .acquiring) }
        /// Counts one poll and returns the new count.
        func add() -> Int { value.add(1, ordering: .acquiringAndReleasing).newValue }
    }

    /// Waits (up to 10 s) until `count` reaches `target`.
    private func waitFor(_ count: Counter, atLeast target: Int) -> Bool {
        let deadline = Date().addingTimeInterval(10)
        while count.load() < target {
            if Date() > deadline { return false }
            usleep(1000)
        }
        return true
    }

    @Test("parks when nothing is pending, polls again once per wake-up, and stops")
    func parksUntilWoken() {
        let polls = Counter()
        let progress = ProgressThread { _ = polls.add(); return false }
        #expect(waitFor(polls, atLeast: 1))
        usleep(50_000)  // a thread that did not park would poll ~250 times meanwhile
        #expect(polls.load() == 1)
        progress.wake()
        #expect(waitFor(polls, atLeast: 2))
        usleep(50_000)
        #expect(polls.load() == 2)
        progress.stop()
        let afterStop = polls.load()
        usleep(20_000)
        #expect(polls.load() == afterStop)
    }

    @Test("keeps polling while a poll reports work pending, then parks")
    func pollsWhilePending() {
        let polls = Counter()
        let progress = ProgressThread { polls.add() < 5 }
        #expect(waitFor(polls, atLeast: 5))
        usleep(50_000)
        #expect(polls.load() == 5)
        progress.stop()
    }
}
