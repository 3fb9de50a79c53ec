import Testing
import TLS

@Suite struct OpenSSLBuildTests {
    @Test func versionIsOpenSSL3() {
        #expect(OpenSSLBuild.version.hasPrefix("OpenSSL 3."), "\(OpenSSLBuild.version)")
    }

    /// Test builds are debug builds, which link OpenSSL as a shared library (only release builds
    /// link it into the binary): dladdr must find libcrypto's file.
    @Test func debugBuildsUseTheSharedLibrary() throws {
        let library = try #require(OpenSSLBuild.sharedLibrary)
        #expect(library.contains("libcrypto.so"), "\(library)")
    }
}
