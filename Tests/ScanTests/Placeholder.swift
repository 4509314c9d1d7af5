import Testing

@Test func placeholder_ScanTests() { #expect(1 == 1) }
