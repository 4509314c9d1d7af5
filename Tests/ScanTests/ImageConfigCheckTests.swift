import Foundation
import Testing

@testable import Scan

/// The image config check the scanner applies when it fetches the config for the external
/// scanners' layout, and the layer cap's message.
@Suite struct ImageConfigCheckTests {
    @Test func acceptsAConfigThatFitsItsLayers() throws {
        let config = Data(#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:a","sha256:b"]}}"#.utf8)
        let ids = try ImageScanner.checkConfig(config, layers: 2)
        #expect(ids == ["sha256:a", "sha256:b"])
        // No rootfs at all: nothing to compare, no ids.
        let none = try ImageScanner.checkConfig(Data(#"{"os":"linux"}"#.utf8), layers: 3)
        #expect(none.isEmpty)
        // A rootfs that is not an object, or one without diff_ids, lists nothing either.
        for config in [#"{"rootfs":null}"#, #"{"rootfs":"layers"}"#, #"{"rootfs":{"type":"layers"}}"#] {
            #expect(try ImageScanner.checkConfig(Data(config.utf8), layers: 3).isEmpty, "\(config)")
        }
    }

    @Test func refusesConfigsThatAreNotJSONObjectsOrMiscountTheirLayers() {
        #expect(throws: LayerError.invalidConfig("is not a JSON object")) {
            try ImageScanner.checkConfig(Data("\u{0}\u{1} not json {".utf8), layers: 1)
        }
        #expect(throws: LayerError.invalidConfig("is not a JSON object")) {
            try ImageScanner.checkConfig(Data("[1]".utf8), layers: 1)
        }
        #expect(throws: LayerError.invalidConfig("lists 2 rootfs.diff_ids for 1 layers")) {
            try ImageScanner.checkConfig(Data(#"{"rootfs":{"diff_ids":["sha256:a","sha256:b"]}}"#.utf8), layers: 1)
        }
        #expect(throws: LayerError.invalidConfig("has a malformed rootfs.diff_ids")) {
            try ImageScanner.checkConfig(Data(#"{"rootfs":{"diff_ids":"sha256:a"}}"#.utf8), layers: 1)
        }
        #expect(throws: LayerError.invalidConfig("has a malformed rootfs.diff_ids")) {
            try ImageScanner.checkConfig(Data(#"{"rootfs":{"diff_ids":null}}"#.utf8), layers: 1)
        }
        #expect(throws: LayerError.invalidConfig("is not a JSON object")) {
            try ImageScanner.checkConfig(Data(#""config""#.utf8), layers: 1)
        }
        #expect(LayerError.tooManyLayers(count: 10_000, limit: 1000).description == "image has 10000 layers, over the 1000-layer limit")
        #expect(LayerLimits.default.maxLayers == 1000)
    }
}
