import Cron
import Foundation
import GRDB
import SQLTestSupport
import Testing

extension TestBackend {
    /// A fresh (or reopened) database with the queue's and the scheduler's tables.
    func open(_ name: String? = nil) async throws -> (any SQLDatabase, String) {
        try await open(
            name,
            sqlite: { m in
                JobStore.registerMigrations(&m)
                Scheduler.registerMigrations(&m)
            },
            postgres: JobStore.postgresMigrations + Scheduler.postgresMigrations)
    }
}

/// In CI the PostgreSQL half of the database tests must run, not quietly drop out.
@Suite struct TestBackendPresence {
    @Test func postgresIsThereInCI() {
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            #expect(TestBackend.postgresURL != nil, "CI=true but HARBORGUARD_TEST_POSTGRES_URL is not set: run the tests through `make test`")
        }
    }
}
