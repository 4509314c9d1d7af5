import Testing

@Test func placeholder_ServerTests() { #expect(1 == 1) }
