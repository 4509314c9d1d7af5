import Testing

@Test func placeholder_CronTests() { #expect(1 == 1) }
