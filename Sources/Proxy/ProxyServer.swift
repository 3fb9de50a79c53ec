import Addresses
import Config
import LinuxSys

/// Why the proxy could not start.
public struct ProxyStartError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// The sidecar: one worker thread per core, each with its own SO_REUSEPORT listeners for the
/// outbound (15001) and inbound (15006) ports, and a main thread that only waits for signals.
public final class ProxyServer {
    private let config: SidecarConfig
    private let log: LogSink

    public init(config: SidecarConfig, log: LogSink) {
        self.config = config
        self.log = log
    }

    /// Starts the workers and blocks until the proxy has drained after SIGTERM/SIGINT (or was told
    /// to stop twice). Throws only when it cannot start (a port in use, no descriptors).
    public func run() throws(ProxyStartError) {
        ProcessInfo.ignoreBrokenPipeSignal()
        let descriptorLimit = ProcessInfo.raiseDescriptorLimit()
        // Block before spawning: the workers inherit the mask and the main thread collects signals.
        TerminationSignals.block()

        let workerCount = config.workers > 0 ? config.workers : ProcessInfo.processorCount()
        var workers: [Worker] = []
        for index in 0..<workerCount {
            let listeners = try makeListeners()
            do {
                workers.append(try Worker(index: index, config: config, listeners: listeners, log: log))
            } catch {
                throw ProxyStartError(description: "cannot create worker \(index)'s event loop: \(error)")
            }
            log.info("listening", [
                "worker": "\(index)",
                "outbound": "\(listeners[0].address)", "inbound": "\(listeners[1].address)",
            ])
        }

        var threads: [OSThread] = []
        for worker in workers {
            nonisolated(unsafe) let worker = worker // handed over: only the new thread touches it from now on
            do {
                threads.append(try OSThread.spawn(name: "weft-worker-\(worker.index)") { worker.run() })
            } catch {
                throw ProxyStartError(description: "cannot start worker thread: \(error)")
            }
        }
        log.info("ready", [
            "workers": "\(workerCount)", "pid": "\(ProcessInfo.processID)", "uid": "\(ProcessInfo.userID)",
            "nofile": "\(descriptorLimit)",
        ])

        let signal = waitForTermination(workers)
        log.info("draining", ["signal": TerminationSignals.name(signal), "timeout": formatDuration(config.drainTimeout)])
        for worker in workers {
            worker.control.drainRequested.store(true, ordering: .relaxed)
            worker.loop.wake()
        }
        let deadline = Clock.monotonicNanoseconds() &+ config.drainTimeout.nanoseconds
        while !workers.allSatisfy({ $0.control.finished.load(ordering: .relaxed) }) {
            let now = Clock.monotonicNanoseconds()
            let remaining = deadline > now ? Int((deadline - now) / 1_000_000) : 0
            // A second signal during the drain means "now".
            if remaining == 0 || TerminationSignals.wait(timeoutMilliseconds: min(remaining, 50)) != nil {
                for worker in workers {
                    worker.control.terminateRequested.store(true, ordering: .relaxed)
                    worker.loop.wake()
                }
                break
            }
        }
        for thread in threads { thread.join() }
        log.info("exiting", [:])
    }

    private func waitForTermination(_ workers: [Worker]) -> Int32 {
        while true {
            if let signal = TerminationSignals.wait(timeoutMilliseconds: 1000) { return signal }
        }
    }

    /// One outbound and one inbound listener (in that order) for a worker. A dual-stack AF_INET6
    /// socket takes both families; where IPv6 is compiled out (EAFNOSUPPORT) IPv4 alone is used.
    private func makeListeners() throws(ProxyStartError) -> [Listener] {
        [
            try makeListener(port: config.outboundPort, direction: .outbound),
            try makeListener(port: config.inboundPort, direction: .inbound),
        ]
    }

    private func makeListener(port: UInt16, direction: TrafficDirection) throws(ProxyStartError) -> Listener {
        var descriptor: Descriptor
        var address = SocketAddress(IPv6Address.any, port: port)
        do throws(SyscallError) {
            descriptor = try Socket.makeTCP(.ipv6)
            do {
                try Socket.setDualStack(descriptor)
            } catch {
                descriptor.close()
                throw error
            }
        } catch {
            guard error.errno == .addressFamilyNotSupported else {
                throw ProxyStartError(description: "cannot create the \(direction) listener: \(error)")
            }
            do {
                descriptor = try Socket.makeTCP(.ipv4)
            } catch {
                throw ProxyStartError(description: "cannot create the \(direction) listener: \(error)")
            }
            address = SocketAddress(IPv4Address.any, port: port)
        }
        do {
            try Socket.setReuseAddress(descriptor)
            try Socket.setReusePort(descriptor)
            try Socket.bind(descriptor, to: address)
            try Socket.listen(descriptor, backlog: 4096)
        } catch {
            descriptor.close()
            let hint = error.errno == .addressInUse
                ? " — another process (another weft proxy?) already listens on port \(port) in this network namespace"
                : error.errno == .accessDenied ? " — ports below 1024 need CAP_NET_BIND_SERVICE; use the defaults 15001/15006" : ""
            throw ProxyStartError(description: "cannot listen on \(address) for \(direction) traffic: \(error)\(hint)")
        }
        return Listener(descriptor: descriptor, direction: direction, address: address)
    }
}
