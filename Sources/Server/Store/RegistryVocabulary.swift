/// The values a registry row stores for its scan method, schedule, scanners and health.
public enum ScanMethod: String, Sendable, Codable, CaseIterable { case cloud, sensor }
public enum Schedule: String, Sendable, Codable, CaseIterable {
    case manual
    case onPush = "on_push"
    case daily, weekly
}
public enum ScannerName: String, Sendable, Codable, CaseIterable { case trivy, grype, syft, native }
public enum HealthStatus: String, Sendable, Codable, CaseIterable { case unknown, syncing, healthy, degraded, unhealthy }
