import Glibc
import Synchronization
import Testing
@testable import LinuxSys

/// A directory under /tmp, removed (with everything in it) at the end.
final class ScratchDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/weft-linuxsys-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        try #require(made != nil, "mkdtemp: \(Errno.current)")
        path = String(cString: made!)
    }

    deinit { Self.remove(path) }

    func callAsFunction(_ name: String) -> String { "\(path)/\(name)" }

    func write(_ name: String, _ text: String) {
        let fd = open(self(name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        precondition(fd >= 0, "open \(name): \(Errno.current)")
        Descriptor(rawValue: fd).writeAll(text)
        Descriptor(rawValue: fd).close()
    }

    private static func remove(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if info.st_mode & S_IFMT == S_IFDIR, let directory = opendir(path) {
            var names: [String] = []
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if name != ".", name != ".." { names.append(name) }
            }
            closedir(directory)
            for name in names { remove("\(path)/\(name)") }
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}

/// Milliseconds since `start` (monotonic).
private func elapsedMilliseconds(since start: UInt64) -> Int {
    Int((Clock.monotonicNanoseconds() - start) / 1_000_000)
}

@Suite struct FileWatcherTests {
    @Test(arguments: [
        ("/a/b/c", "/a/b"), ("/a/b/", "/a"), ("/a", "/"), ("a/b", "a"), ("b", "."), ("/", nil), (".", nil), ("", nil),
    ] as [(String, String?)])
    func parentDirectories(_ path: String, _ parent: String?) {
        #expect(FileWatcher.parentDirectory(of: path) == parent)
    }

    @Test func aFileWrittenIntoTheDirectoryIsAChange() throws {
        let directory = try ScratchDirectory()
        let watcher = try FileWatcher(directory: directory.path)
        #expect(watcher.waitForChange(timeoutMilliseconds: 0) == .timedOut)
        directory.write("config.yaml", "a: 1\n")
        #expect(watcher.waitForChange(timeoutMilliseconds: 1000) == .changed)
        // The burst (create, write, close) was consumed as one change.
        #expect(watcher.waitForChange(timeoutMilliseconds: 0) == .timedOut)
    }

    @Test func aKubernetesSymlinkSwapIsAChange() throws {
        let directory = try ScratchDirectory()
        // kubelet's Secret layout: ..v1/<file>, ..data -> ..v1, <file> -> ..data/<file>.
        mkdir(directory("..v1"), 0o755)
        directory.write("..v1/key.pem", "one")
        symlink("..v1", directory("..data"))
        symlink("..data/key.pem", directory("key.pem"))
        let watcher = try FileWatcher()
        #expect(try watcher.watch(directories: [directory.path]) == [directory.path])
        mkdir(directory("..v2"), 0o755)
        directory.write("..v2/key.pem", "two")
        _ = watcher.consumeEvents() // the new version's directory appearing
        symlink("..v2", directory("..data_tmp"))
        _ = watcher.consumeEvents()
        rename(directory("..data_tmp"), directory("..data"))
        #expect(watcher.waitForChange(timeoutMilliseconds: 1000) == .changed)
    }

    @Test func aMissingDirectoryIsFollowedFromItsNearestAncestor() throws {
        let directory = try ScratchDirectory()
        let target = directory("certs/workload")
        let watcher = try FileWatcher()
        #expect(try watcher.watch(directories: [target]) == [directory.path])
        mkdir(directory("certs"), 0o755)
        #expect(watcher.waitForChange(timeoutMilliseconds: 1000) == .changed)
        #expect(try watcher.watch(directories: [target]) == [directory("certs")])
        mkdir(target, 0o755)
        #expect(watcher.waitForChange(timeoutMilliseconds: 1000) == .changed)
        #expect(try watcher.watch(directories: [target]) == [target])
        // The ancestors are no longer watched: their entries changing is not reported.
        directory.write("unrelated", "x")
        directory.write("certs/unrelated", "x")
        #expect(watcher.waitForChange(timeoutMilliseconds: 100) == .timedOut)
        directory.write("certs/workload/cert-chain.pem", "pem")
        #expect(watcher.waitForChange(timeoutMilliseconds: 1000) == .changed)
    }

    @Test func aDeletedDirectoryIsAChangeAndIsWatchedAgainWhenItReturns() throws {
        let directory = try ScratchDirectory()
        let target = directory("certs")
        mkdir(target, 0o755)
        let watcher = try FileWatcher()
        #expect(try watcher.watch(directories: [target]) == [target])
        rmdir(target)
        #expect(watcher.waitForChange(timeoutMilliseconds: 1000) == .changed)
        #expect(try watcher.watch(directories: [target]) == [directory.path])
        mkdir(target, 0o755)
        #expect(watcher.waitForChange(timeoutMilliseconds: 1000) == .changed)
        #expect(try watcher.watch(directories: [target]) == [target])
    }

    @Test func aWakeupFromAnotherThreadEndsAWaitWithoutLimitPromptly() throws {
        let directory = try ScratchDirectory()
        let watcher = try FileWatcher(directory: directory.path)
        let wakeup = try Wakeup()
        let thread = try OSThread.spawn(name: "waker") {
            Clock.sleep(milliseconds: 50)
            wakeup.signal()
        }
        let start = Clock.monotonicNanoseconds()
        #expect(watcher.waitForChange(timeoutMilliseconds: -1, wakeup: wakeup) == .woken)
        #expect(elapsedMilliseconds(since: start) < 1000)
        thread.join()
        #expect(wakeup.drain() == 0, "the wait drained the wakeup")
    }

    @Test func aWaitWithALimitTimesOut() throws {
        let directory = try ScratchDirectory()
        let watcher = try FileWatcher(directory: directory.path)
        let start = Clock.monotonicNanoseconds()
        #expect(watcher.waitForChange(timeoutMilliseconds: 50) == .timedOut)
        #expect(elapsedMilliseconds(since: start) >= 50)
    }

    @Test func watchingAMissingDirectoryByItselfFails() throws {
        let directory = try ScratchDirectory()
        // The configuration watcher's directory must exist; only `watch(directories:)` falls back
        // to an ancestor.
        #expect(throws: SyscallError.self) { try FileWatcher(directory: directory("missing")) }
    }
}

@Suite struct PollTests {
    @Test func reportsWhichDescriptorIsReadableInTheOrderGiven() throws {
        let first = try Wakeup()
        let second = try Wakeup()
        #expect(Poll.waitReadable([first.descriptor, second.descriptor], timeoutMilliseconds: 0) == [false, false])
        second.signal()
        #expect(Poll.waitReadable([first.descriptor, second.descriptor], timeoutMilliseconds: 1000) == [false, true])
        #expect(second.drain() == 1)
        #expect(Poll.waitReadable([first.descriptor, second.descriptor], timeoutMilliseconds: 0) == [false, false])
    }
}

@Suite struct TerminationSignalTests {
    /// Runs on a thread of its own, so the signal mask of the test runner's threads is untouched:
    /// the signal is directed at that thread, which has it blocked, so nothing else sees it.
    @Test func aBlockedSignalIsReadFromTheReceiverAndMakesItReadable() throws {
        let results = Mutex<[String]>([])
        let thread = try OSThread.spawn(name: "signals") {
            TerminationSignals.block()
            guard let receiver = try? TerminationSignals.Receiver() else {
                results.withLock { $0.append("signalfd failed") }
                return
            }
            let before = receiver.take()
            let idle = Poll.waitReadable([receiver.descriptor], timeoutMilliseconds: 0)
            pthread_kill(pthread_self(), SIGTERM)
            let ready = Poll.waitReadable([receiver.descriptor], timeoutMilliseconds: 1000)
            let taken = receiver.take()
            let after = receiver.take()
            results.withLock {
                $0 = ["\(before.map(TerminationSignals.name) ?? "none")", "\(idle)", "\(ready)",
                      "\(taken.map(TerminationSignals.name) ?? "none")", "\(after.map(TerminationSignals.name) ?? "none")"]
            }
        }
        thread.join()
        #expect(results.withLock { $0 } == ["none", "[false]", "[true]", "SIGTERM", "none"])
    }
}
