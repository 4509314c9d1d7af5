import Testing

@Test func placeholder_AdminTests() { #expect(1 == 1) }
