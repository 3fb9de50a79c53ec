// swift-tools-version:6.0
// Weft: a sidecar service-mesh data plane for Linux. Targets follow ../shared/DESIGN.md:
// C stays in the C*/LinuxSys/Netfilter targets; Addresses and Config are pure.
import PackageDescription

let package = Package(
    name: "weft",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "weft", targets: ["weft"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
    ],
    targets: [
        // C macros and GNU-only functions Swift cannot import (splice, accept4, SO_ORIGINAL_DST, ...).
        .target(
            name: "CLinuxShims",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        // The C libraries' headers are in /usr/include. No pkgConfig names: Debian's give no flags
        // but -L/usr/lib/x86_64-linux-gnu, which would come before Scripts/static-libs in the
        // release link and make it take the shared libraries (see the executable's settings).
        .systemLibrary(
            name: "CNetfilter",
            providers: [.apt(["libnftnl-dev", "libmnl-dev"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            providers: [.apt(["libssl-dev"])]
        ),
        // OpenSSL macros Swift cannot import, as functions (one header + source per user target).
        .target(
            name: "COpenSSLShims",
            linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]
        ),
        .systemLibrary(
            name: "CYAML",
            providers: [.apt(["libyaml-dev"])]
        ),

        // Pure: IP addresses, CIDRs and socket addresses as values; parsing and formatting.
        .target(name: "Addresses"),
        // Pure: SPIFFE ids and trust domains.
        .target(name: "Identity"),
        // Pure: protocol sniffing from a peeked prefix (TLS ClientHello and its ALPN/SNI, HTTP).
        .target(name: "Detect"),
        // Pure: the HTTP/1.1 codec — strict, smuggling-safe, streaming (RFC 9110/9112).
        .target(name: "HTTP"),
        // Pure: Istio AuthorizationPolicy model and evaluation.
        .target(name: "Policy", dependencies: ["Addresses", "Identity"]),
        // Pure: services, endpoints, load balancers, retries, outlier detection.
        .target(name: "Routing", dependencies: ["Addresses"]),
        // Every raw syscall, typed errors; the only place besides Netfilter that touches pointers.
        .target(name: "LinuxSys", dependencies: ["CLinuxShims", "Addresses"]),
        // Interception ruleset: pure planning + nft text, libnftnl encoding, one-batch apply, read back.
        .target(name: "Netfilter", dependencies: ["CNetfilter", "CLinuxShims", "Addresses", "LinuxSys"]),
        // The mesh's CA: root and intermediate CAs, workload certificates (OpenSSL).
        .target(name: "PKI", dependencies: ["COpenSSL", "COpenSSLShims", "Identity", "LinuxSys"]),
        // OpenSSL contexts and non-blocking TLS streams, SPIFFE verification, resumption, kTLS.
        .target(name: "TLS", dependencies: ["COpenSSL", "COpenSSLShims", "Identity", "LinuxSys"]),
        // One epoll loop per worker thread, timers, wakeups.
        .target(name: "Reactor", dependencies: ["LinuxSys"]),
        // Two half-duplex directions: splice through pooled pipes, buffered fallback.
        .target(name: "Relay", dependencies: ["LinuxSys"]),
        // YAML text to nodes with marks, through libyaml's event API; the only target that touches
        // libyaml. No Foundation, so the binary carries none: Yams pulled in all of it, with ICU,
        // and an idle sidecar with mTLS was 4.7-5.1 MiB larger (21.8-21.9 → 16.8-17.2 MiB
        // resident), the stripped release binary 61.1 MB instead of 17.2 MB.
        .target(name: "YAML", dependencies: ["CYAML"]),
        // Pure: YAML documents to a typed, validated configuration with file:line errors.
        .target(name: "Config", dependencies: ["Addresses", "Identity", "Policy", "Routing", "YAML"]),
        // The health (15021) and metrics (15090) server, on its own thread.
        .target(name: "Admin", dependencies: ["Addresses", "LinuxSys", "Reactor"]),
        // Listeners, workers and the per-connection state machine.
        .target(
            name: "Proxy",
            dependencies: [
                "Addresses", "LinuxSys", "Reactor", "Relay", "Config", "Identity", "Detect", "TLS", "Admin", "HTTP", "Policy",
            ]
        ),
        .executableTarget(
            name: "weft",
            dependencies: [
                "Addresses", "Admin", "Config", "Netfilter", "Proxy", "LinuxSys", "Identity", "PKI", "TLS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // Release builds (Scripts/build-release, for Scripts/bench and deploy/) are linked for a
            // small resident set, each measured on an idle sidecar with mTLS:
            // - lld with packed relative relocations (RELR): the relocation table shrinks from
            //   1.9 MiB to a few KiB, and the resident memory by about 2.3 MiB (23.4-24.0 →
            //   21.1-21.6 MiB). The default linker (gold) has no RELR.
            // - No --export-dynamic (the static stdlib's link arguments ask for it, for code
            //   dlopen'ed into a Swift program, which Weft never does): every library symbol the
            //   loader resolves at startup would otherwise be looked up in a table of all of
            //   Weft's symbols. About 0.4 MiB.
            // - libstdc++ (which the Swift runtime needs), OpenSSL, libyaml and libnftnl linked
            //   statically, found through Scripts/static-libs, which holds links to their archives
            //   (its -L comes before the system's, as the system library targets declare no
            //   pkg-config name that would add /usr/lib/x86_64-linux-gnu first): only the code Weft
            //   uses is mapped, instead of pages all over each shared library. libstdc++ about
            //   1.0 MiB; the C libraries 16.2 → 14.0-14.8 MiB. Scripts/build-release fails if one
            //   would be loaded as a shared library after all; `weft version` names the OpenSSL.
            // - The code a sidecar runs laid out together: Scripts/link-order.txt (written by
            //   Scripts/orderfile from a profile of three sidecars at work) lists those functions,
            //   each in a section of its own (-function-sections, below and in
            //   Scripts/build-release). The kernel maps executable pages in 64 KiB windows and
            //   whole page-cache folios around each page touched; scattered over 14 MiB of code,
            //   the few thousand functions touched kept most of it resident. Functions without a
            //   symbol, which the list cannot name, are gathered by Scripts/link-unnamed.ld.
            //   14.1-14.8 → 11.0-11.7 MiB.
            // Together 17.1 → 11.0-11.7 MiB idle (RSS, alternating starts of each binary).
            linkerSettings: [
                .unsafeFlags(
                    [
                        "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
                        "-Xlinker", "--no-export-dynamic",
                        "-L", "\(Context.packageDirectory)/Scripts/static-libs",
                        "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/Scripts/link-order.txt",
                        "-Xlinker", "--no-warn-symbol-ordering",
                        "-Xlinker", "-T", "-Xlinker", "\(Context.packageDirectory)/Scripts/link-unnamed.ld",
                    ],
                    .when(configuration: .release)
                ),
            ]
        ),

        .testTarget(name: "AddressesTests", dependencies: ["Addresses"]),
        .testTarget(name: "LinuxSysTests", dependencies: ["LinuxSys", "Addresses"]),
        .testTarget(name: "NetfilterTests", dependencies: ["Netfilter", "Addresses", "LinuxSys"], resources: [.copy("Golden")]),
        .testTarget(name: "ReactorTests", dependencies: ["Reactor", "LinuxSys"]),
        .testTarget(name: "RelayTests", dependencies: ["Relay", "LinuxSys"]),
        .testTarget(name: "ConfigTests", dependencies: ["Config", "Addresses", "Routing", "Policy", "Identity", "YAML"]),
        .testTarget(name: "YAMLTests", dependencies: ["YAML"]),
        .testTarget(name: "AdminTests", dependencies: ["Admin", "Addresses", "LinuxSys"]),
        .testTarget(name: "IdentityTests", dependencies: ["Identity"]),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP"]),
        .testTarget(name: "PolicyTests", dependencies: ["Policy", "Addresses", "Identity"]),
        .testTarget(name: "RoutingTests", dependencies: ["Routing", "Addresses"]),
        .testTarget(name: "DetectTests", dependencies: ["Detect"]),
        .testTarget(name: "PKITests", dependencies: ["PKI", "Identity", "LinuxSys"]),
        .testTarget(name: "TLSTests", dependencies: ["TLS", "PKI", "Identity", "LinuxSys", "COpenSSL", "COpenSSLShims"]),
        .testTarget(name: "ProxyTests", dependencies: ["Proxy", "Admin", "Config", "LinuxSys", "Addresses", "HTTP", "Policy", "Relay", "Routing", "TLS"]),
    ]
)

// Release builds put every function in a section of its own, so that the link can lay out the code
// a sidecar runs by Scripts/link-order.txt (see the executable's linker settings above).
for target in package.targets where target.type == .regular || target.type == .executable {
    target.swiftSettings = (target.swiftSettings ?? [])
        + [.unsafeFlags(["-Xfrontend", "-function-sections"], .when(configuration: .release))]
    target.cSettings = (target.cSettings ?? [])
        + [.unsafeFlags(["-ffunction-sections"], .when(configuration: .release))]
}
