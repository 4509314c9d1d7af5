// swift-tools-version:6.2
import PackageDescription

// Swift 6 language mode everywhere (tools 6.x default), plus the upcoming features the
// Hummingbird project turns on: explicit `any`, imports visible only where declared,
// and internal imports unless a module re-exports a type on purpose (`public import`).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

// zlib-ng 2.3.3 (zlib licence), vendored in Sources/Scan/zlib-ng: the layer inflater. It inflates
// a layer about twice as fast as the system zlib, which set the scan's pace (see
// Sources/Scan/zlib-ng/VENDORED.md). Its native API (`zng_` names) links beside the system zlib
// that other libraries use. On x86-64 the SIMD variants are compiled in targets of their own,
// each with only its instruction-set flags, and chosen at run time from CPUID as upstream does.
// `-O2` in every configuration: the test suites inflate many layers in debug builds too.
#if arch(x86_64)
let zlibNGArchDefines: [CSetting] = [
    "HAVE_CPUID_GNU", "WITH_OPTIM", "X86_FEATURES", "X86_SSE2", "X86_SSSE3", "X86_SSE42", "X86_PCLMULQDQ_CRC", "X86_AVX2",
].map { .define($0) }
let zlibNGArchSources = [
    "arch/x86/x86_features.c", "arch/x86/chunkset_sse2.c", "arch/x86/chorba_sse2.c",
    "arch/x86/compare256_sse2.c", "arch/x86/slide_hash_sse2.c",
]
/// One target per instruction-set level: (name, folder under zlib-ng/isa, compiler flags).
let zlibNGISATargets: [(String, String, [String])] = [
    ("CZlibNGSSSE3", "ssse3", ["-mssse3"]),
    ("CZlibNGSSE42", "sse42", ["-msse4.2"]),
    ("CZlibNGPCLMUL", "pclmul", ["-msse4.2", "-mpclmul"]),
    ("CZlibNGAVX2", "avx2", ["-mavx2", "-mbmi2"]),
]
#else
let zlibNGArchDefines: [CSetting] = []
let zlibNGArchSources: [String] = []
let zlibNGISATargets: [(String, String, [String])] = []
#endif

let zlibNGDefines: [CSetting] = [
    "HAVE_ATTRIBUTE_ALIGNED", "HAVE_BUILTIN_ASSUME_ALIGNED", "HAVE_BUILTIN_CTZ", "HAVE_BUILTIN_CTZLL",
    "HAVE_VISIBILITY_HIDDEN", "HAVE_VISIBILITY_INTERNAL", "HAVE_SYS_AUXV_H", "ZLIBNG_NATIVE_API", "NDEBUG",
].map { .define($0) } + zlibNGArchDefines

let zlibNGTargets: [Target] = [
    .target(
        name: "CZlibNG",
        dependencies: zlibNGISATargets.map { .target(name: $0.0) },
        path: "Sources/Scan/zlib-ng",
        exclude: ["isa", "LICENSE.md", "VENDORED.md"],
        sources: [
            "adler32.c", "cpu_features.c", "crc32.c", "crc32_braid_comb.c", "functable.c",
            "inflate.c", "inftrees.c", "zutil.c",
            "arch/generic/adler32_c.c", "arch/generic/adler32_fold_c.c", "arch/generic/chunkset_c.c",
            "arch/generic/compare256_c.c", "arch/generic/crc32_braid_c.c", "arch/generic/crc32_chorba_c.c",
            "arch/generic/crc32_fold_c.c", "arch/generic/slide_hash_c.c",
        ] + zlibNGArchSources,
        publicHeadersPath: "include",
        cSettings: zlibNGDefines + [.headerSearchPath("."), .unsafeFlags(["-O2"])]
    ),
] + zlibNGISATargets.map { name, folder, flags in
    .target(
        name: name,
        path: "Sources/Scan/zlib-ng/isa/\(folder)",
        publicHeadersPath: ".",
        cSettings: zlibNGDefines + [.headerSearchPath("../.."), .headerSearchPath("../../include"), .unsafeFlags(["-O2"] + flags)]
    )
}

let package = Package(
    name: "harborguard",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "harborguard", targets: ["harborguard"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        // Tests only: generators for the property-based fuzz suite (Tests/FuzzTests).
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
    ],
    targets: [
        .executableTarget(
            name: "harborguard",
            dependencies: [
                "Server", "Store", "Admin", "Scan", "Registry", "Cron",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // `Extern` declares `mallopt` from <malloc.h> (not in the Glibc module) without
            // a C target: see Sources/harborguard/MemoryTuning.swift.
            swiftSettings: swiftSettings + [.enableExperimentalFeature("Extern")]
        ),
        .target(
            name: "Server",
            dependencies: [
                "Store", "Scan", "Registry", "Cron",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            // Store/ is its own target (below): the persistence layer and the keyring.
            exclude: ["Store"],
            swiftSettings: swiftSettings
        ),
        // The persistence layer (the database, its one migrator, records, repositories) and
        // the keyring and secret store. A target of its own inside Server's folder so that
        // Admin reaches the data directory, the keyring and the secrets without importing
        // Server (Hummingbird, NIOSSL, Mustache): Server and Admin both import Store.
        .target(
            name: "Store",
            dependencies: [
                "Cron", "Registry", "Scan",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Server/Store",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Registry",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Scan",
            dependencies: [
                "Registry", "Cron", "CZlibNG",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            // zlib-ng/ is the C target CZlibNG (above).
            exclude: ["zlib-ng"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Cron",
            dependencies: [
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Admin",
            dependencies: [
                "Store", "Cron",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Tests only: the in-process HTTP server the registry and scan tests share.
        .target(
            name: "HTTPTestSupport",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/HTTPTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RegistryTests",
            dependencies: [
                "Registry", "HTTPTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ScanTests",
            dependencies: [
                "Scan", "Registry", "HTTPTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Tests only: the engines database tests run on (SQLite, and the harness's PostgreSQL).
        .target(
            name: "SQLTestSupport",
            dependencies: ["Cron", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Tests/SQLTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CronTests",
            dependencies: [
                "Cron", "SQLTestSupport", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "Store", "Cron", "Scan", "Registry", "SQLTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AdminTests",
            dependencies: [
                "Admin", "Store", "Server", "Cron", "SQLTestSupport", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FuzzTests",
            dependencies: [
                "Scan", "Registry",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: swiftSettings
        ),
    ] + zlibNGTargets
)
