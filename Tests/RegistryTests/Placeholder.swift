import Testing

@Test func placeholder_RegistryTests() { #expect(1 == 1) }
