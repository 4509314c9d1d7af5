import Cron
package import GRDB

/// Every migration of the app database, in the order they run. Identifiers are stored in
/// `grdb_migrations` of every existing data directory: never rename or reorder one; add a
/// new migration at the end. The job store's own migrations (`cron.v1.jobs`,
/// `cron.v2.claim-order`, `cron.v2.scheduler`) are defined by the Cron module, which shares
/// this database, and run after the server's.
package enum Migrations {
    /// The identifiers in order, as `grdb_migrations` lists them in a migrated database.
    package static var identifiers: [String] { migrator.migrations }

    package static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()

        /// Organizations, users, API keys, sessions, registries, secrets and the audit log.
        migrator.registerMigration("server.v1") { db in
            try db.execute(sql: """
                CREATE TABLE organizations (
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL UNIQUE,
                    created_at TEXT NOT NULL
                );
                CREATE TABLE users (
                    id TEXT PRIMARY KEY NOT NULL,
                    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
                    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
                    name TEXT,
                    password_hash TEXT NOT NULL,
                    role TEXT NOT NULL,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL
                );
                CREATE TABLE api_keys (
                    id TEXT PRIMARY KEY NOT NULL,
                    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
                    kind TEXT NOT NULL,
                    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    token_hash BLOB NOT NULL UNIQUE,
                    token_prefix TEXT NOT NULL,
                    role TEXT NOT NULL,
                    registry_id TEXT,
                    created_by TEXT,
                    created_at TEXT NOT NULL,
                    expires_at TEXT,
                    last_used_at TEXT,
                    revoked_at TEXT
                );
                CREATE INDEX api_keys_org ON api_keys(org_id, kind);
                CREATE INDEX api_keys_registry ON api_keys(registry_id);
                CREATE TABLE sessions (
                    token_hash BLOB PRIMARY KEY NOT NULL,
                    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    created_at TEXT NOT NULL,
                    expires_at TEXT NOT NULL
                );
                CREATE TABLE registries (
                    id TEXT PRIMARY KEY NOT NULL,
                    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    provider TEXT NOT NULL,
                    url TEXT NOT NULL,
                    scan_method TEXT NOT NULL,
                    schedule TEXT NOT NULL,
                    scanners TEXT NOT NULL,
                    tag_include TEXT,
                    tag_exclude TEXT,
                    insecure INTEGER NOT NULL DEFAULT 0,
                    has_credentials INTEGER NOT NULL DEFAULT 0,
                    image_count INTEGER NOT NULL DEFAULT 0,
                    health_status TEXT NOT NULL DEFAULT 'unknown',
                    health_score INTEGER NOT NULL DEFAULT 0,
                    health_last_error TEXT,
                    last_sync_at TEXT,
                    last_sync_ok_at TEXT,
                    webhook_token_hash BLOB,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    UNIQUE (org_id, name)
                );
                CREATE INDEX registries_org_created ON registries(org_id, created_at, id);
                CREATE TABLE secrets (
                    owner TEXT PRIMARY KEY NOT NULL,
                    kek_id TEXT NOT NULL,
                    wrapped_dek BLOB NOT NULL,
                    ciphertext BLOB NOT NULL,
                    created_at TEXT NOT NULL
                );
                CREATE INDEX secrets_kek ON secrets(kek_id);
                CREATE TABLE audit_log (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    org_id TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    action TEXT NOT NULL,
                    target TEXT,
                    ip TEXT,
                    created_at TEXT NOT NULL
                );
                CREATE INDEX audit_org ON audit_log(org_id, seq);
                CREATE TABLE server_heartbeat (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL);
                CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
                    BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
                CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
                    BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
                """)
        }

        /// Images (one per repository of a registry) and their tags, as sync finds them.
        migrator.registerMigration("server.v2.images") { db in
            try db.execute(sql: """
                CREATE TABLE images (
                    id TEXT PRIMARY KEY NOT NULL,
                    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
                    registry_id TEXT NOT NULL REFERENCES registries(id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    full_name TEXT NOT NULL,
                    tag_count INTEGER NOT NULL DEFAULT 0,
                    latest_tag TEXT,
                    latest_digest TEXT,
                    risk_score INTEGER NOT NULL DEFAULT 0,
                    critical INTEGER NOT NULL DEFAULT 0,
                    high INTEGER NOT NULL DEFAULT 0,
                    medium INTEGER NOT NULL DEFAULT 0,
                    low INTEGER NOT NULL DEFAULT 0,
                    unknown INTEGER NOT NULL DEFAULT 0,
                    last_scanned_at TEXT,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    UNIQUE (registry_id, name)
                );
                CREATE INDEX images_org_created ON images(org_id, created_at, id);
                CREATE INDEX images_org_name ON images(org_id, name, id);
                CREATE INDEX images_org_risk ON images(org_id, risk_score, id);
                CREATE TABLE image_tags (
                    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    digest TEXT NOT NULL,
                    first_seen_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    last_scan_id TEXT,
                    last_scanned_at TEXT,
                    PRIMARY KEY (image_id, name)
                ) WITHOUT ROWID;
                """)
        }

        /// Scans, their findings, per-digest inventories, the layer-analysis cache and triage.
        migrator.registerMigration("server.v3.scans") { db in
            try db.execute(sql: """
                CREATE TABLE scans (
                    id TEXT PRIMARY KEY NOT NULL,
                    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
                    registry_id TEXT NOT NULL REFERENCES registries(id) ON DELETE CASCADE,
                    image_id TEXT REFERENCES images(id) ON DELETE SET NULL,
                    job_id TEXT,
                    repository TEXT NOT NULL,
                    tag TEXT,
                    reference TEXT NOT NULL,
                    digest TEXT,
                    manifest_digest TEXT,
                    platform TEXT NOT NULL DEFAULT 'linux/amd64',
                    status TEXT NOT NULL,
                    trigger TEXT NOT NULL,
                    origin TEXT NOT NULL DEFAULT 'cloud',
                    requested_scanners TEXT NOT NULL DEFAULT '["native"]',
                    scanners TEXT NOT NULL DEFAULT '[]',
                    os_family TEXT,
                    os_version TEXT,
                    package_count INTEGER NOT NULL DEFAULT 0,
                    critical INTEGER NOT NULL DEFAULT 0,
                    high INTEGER NOT NULL DEFAULT 0,
                    medium INTEGER NOT NULL DEFAULT 0,
                    low INTEGER NOT NULL DEFAULT 0,
                    unknown INTEGER NOT NULL DEFAULT 0,
                    risk_score INTEGER NOT NULL DEFAULT 0,
                    layers_cached INTEGER NOT NULL DEFAULT 0,
                    layers_total INTEGER NOT NULL DEFAULT 0,
                    bytes_downloaded INTEGER NOT NULL DEFAULT 0,
                    duration_ms INTEGER,
                    error TEXT,
                    notes TEXT NOT NULL DEFAULT '[]',
                    queued_at TEXT NOT NULL,
                    started_at TEXT,
                    finished_at TEXT
                );
                CREATE INDEX scans_org_queued ON scans(org_id, queued_at, id);
                CREATE INDEX scans_org_status ON scans(org_id, status, queued_at);
                CREATE INDEX scans_image ON scans(image_id, queued_at);
                CREATE INDEX scans_registry ON scans(registry_id, queued_at);
                CREATE TABLE findings (
                    scan_id TEXT NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
                    seq INTEGER NOT NULL,
                    vulnerability_id TEXT NOT NULL,
                    severity_rank INTEGER NOT NULL,
                    fixable INTEGER NOT NULL,
                    pkg_name TEXT NOT NULL,
                    pkg_version TEXT NOT NULL,
                    pkg_type TEXT NOT NULL,
                    detail BLOB NOT NULL,
                    PRIMARY KEY (scan_id, seq)
                ) WITHOUT ROWID;
                CREATE INDEX findings_vulnerability ON findings(vulnerability_id, scan_id);
                CREATE TABLE inventories (
                    digest TEXT PRIMARY KEY NOT NULL,
                    os TEXT,
                    packages BLOB NOT NULL,
                    package_count INTEGER NOT NULL,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE layer_analyses (
                    digest TEXT NOT NULL,
                    analyzer_version INTEGER NOT NULL,
                    analysis BLOB NOT NULL,
                    created_at TEXT NOT NULL,
                    PRIMARY KEY (digest, analyzer_version)
                ) WITHOUT ROWID;
                CREATE TABLE triage (
                    id TEXT PRIMARY KEY NOT NULL,
                    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
                    vulnerability_id TEXT NOT NULL,
                    image_id TEXT NOT NULL DEFAULT '',
                    status TEXT NOT NULL,
                    note TEXT,
                    expires_at TEXT,
                    expiry_applied INTEGER NOT NULL DEFAULT 0,
                    updated_by TEXT NOT NULL,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    UNIQUE (org_id, vulnerability_id, image_id)
                );
                CREATE TABLE vulnerability_sightings (
                    org_id TEXT NOT NULL,
                    vulnerability_id TEXT NOT NULL,
                    pkg_name TEXT NOT NULL,
                    first_detected_at TEXT NOT NULL,
                    PRIMARY KEY (org_id, vulnerability_id, pkg_name)
                ) WITHOUT ROWID;
                """)
        }

        /// Indexes the scheduler's queries need at 10,000 registries and 1,000,000 tags.
        migrator.registerMigration("server.v4.scheduler") { db in
            try db.execute(sql: """
                CREATE INDEX image_tags_last_scanned ON image_tags(last_scanned_at);
                CREATE INDEX scans_finished ON scans(finished_at);
                """)
        }

        /// What each registry's sensor last said about itself.
        migrator.registerMigration("server.v5.sensors") { db in
            try db.execute(sql: """
                CREATE TABLE sensors (
                    registry_id TEXT PRIMARY KEY NOT NULL REFERENCES registries(id) ON DELETE CASCADE,
                    key_id TEXT NOT NULL,
                    name TEXT NOT NULL,
                    version TEXT NOT NULL,
                    hostname TEXT NOT NULL,
                    first_seen_at TEXT NOT NULL,
                    last_heartbeat_at TEXT NOT NULL,
                    offline_since TEXT
                ) WITHOUT ROWID;
                """)
        }

        /// Outgoing webhook channels and their deliveries.
        migrator.registerMigration("server.v6.notifications") { db in
            try db.execute(sql: """
                CREATE TABLE notification_channels (
                    id TEXT PRIMARY KEY NOT NULL,
                    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    type TEXT NOT NULL,
                    url TEXT NOT NULL,
                    events TEXT NOT NULL,
                    enabled INTEGER NOT NULL DEFAULT 1,
                    has_secret INTEGER NOT NULL DEFAULT 0,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    UNIQUE (org_id, name)
                );
                CREATE TABLE notification_deliveries (
                    id TEXT PRIMARY KEY NOT NULL,
                    channel_id TEXT NOT NULL REFERENCES notification_channels(id) ON DELETE CASCADE,
                    event TEXT NOT NULL,
                    body BLOB NOT NULL,
                    status TEXT NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    response_code INTEGER,
                    error TEXT,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    next_attempt_at TEXT
                );
                CREATE INDEX notification_deliveries_channel ON notification_deliveries(channel_id, created_at);
                """)
        }

        JobStore.registerMigrations(&migrator)
        Scheduler.registerMigrations(&migrator)

        /// What findings are ranked and grouped by: priority (1 = P1 … 5 = P5), KEV, EPSS,
        /// where the severity came from, and the version an upgrade to which closes the
        /// finding (fix groups). Stored findings are backfilled from their JSON (priority from
        /// severity and fix alone: no KEV or EPSS data existed for them).
        migrator.registerMigration("server.v7.finding-priority") { db in
            try db.execute(sql: """
                ALTER TABLE findings ADD COLUMN priority_rank INTEGER NOT NULL DEFAULT 5;
                ALTER TABLE findings ADD COLUMN kev INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE findings ADD COLUMN epss REAL;
                ALTER TABLE findings ADD COLUMN epss_percentile REAL;
                ALTER TABLE findings ADD COLUMN severity_source TEXT;
                ALTER TABLE findings ADD COLUMN fix_version TEXT;
                CREATE INDEX findings_fix_group ON findings(pkg_name, pkg_type, fix_version, scan_id, priority_rank, severity_rank, kev,
                    vulnerability_id) WHERE fix_version IS NOT NULL;
                """)
            try ScanRepository.backfillPriorityColumns(in: db)
        }

        /// Policies (rules and scope as JSON, validated by the server) and the verdict stored
        /// with each scan they were evaluated for.
        migrator.registerMigration("server.v8.policies") { db in
            try db.execute(sql: """
                CREATE TABLE policies (
                    id TEXT PRIMARY KEY NOT NULL,
                    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    enabled INTEGER NOT NULL DEFAULT 1,
                    action TEXT NOT NULL,
                    scope TEXT NOT NULL,
                    rules TEXT NOT NULL,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    UNIQUE (org_id, name)
                );
                CREATE TABLE policy_verdicts (
                    scan_id TEXT PRIMARY KEY NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
                    verdict TEXT NOT NULL,
                    violation_count INTEGER NOT NULL,
                    detail BLOB NOT NULL,
                    evaluated_at TEXT NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        /// VEX: a `NOT_AFFECTED` decision's OpenVEX justification, and where an imported
        /// decision came from (the document's id and author, the subcomponent purls its
        /// statement named). Decisions stay keyed by (organization, vulnerability, image).
        migrator.registerMigration("server.v9.vex") { db in
            try db.execute(sql: """
                ALTER TABLE triage ADD COLUMN justification TEXT;
                ALTER TABLE triage ADD COLUMN source_document TEXT;
                ALTER TABLE triage ADD COLUMN source_author TEXT;
                ALTER TABLE triage ADD COLUMN subcomponents TEXT;
                """)
        }
        /// Notification channel types (slack, teams, email besides webhook), each channel's
        /// delivery mode and minimum severity, its non-secret settings (JSON), and the events
        /// waiting for a slack/teams/email channel's next message (one flush renders them all).
        migrator.registerMigration("server.v10.channels") { db in
            try db.execute(sql: """
                ALTER TABLE notification_channels ADD COLUMN delivery TEXT NOT NULL DEFAULT 'immediate';
                ALTER TABLE notification_channels ADD COLUMN min_severity TEXT;
                ALTER TABLE notification_channels ADD COLUMN settings TEXT;
                CREATE TABLE notification_pending (
                    id TEXT PRIMARY KEY NOT NULL,
                    channel_id TEXT NOT NULL REFERENCES notification_channels(id) ON DELETE CASCADE,
                    event TEXT NOT NULL,
                    severity TEXT NOT NULL,
                    body BLOB NOT NULL,
                    created_at TEXT NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX notification_pending_channel ON notification_pending(channel_id, created_at, id);
                """)
        }
        // The CVE watch: which finding alerts were sent, so none is sent twice for the same image
        // digest, vulnerability and package (`kind`: new, resolved, escalated:kev, escalated:P2, …).
        migrator.registerMigration("server.v11.finding-alerts") { db in
            try db.execute(sql: """
                CREATE TABLE finding_alerts (
                    org_id TEXT NOT NULL,
                    digest TEXT NOT NULL,
                    vulnerability_id TEXT NOT NULL,
                    pkg_name TEXT NOT NULL,
                    pkg_version TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    created_at TEXT NOT NULL,
                    PRIMARY KEY (org_id, digest, vulnerability_id, pkg_name, pkg_version, kind)
                ) WITHOUT ROWID;
                """)
        }
        // Two digests per finding (what the match decides, what the enrichment feeds decide),
        // so a rematch compares without decoding the stored JSON; NULL on older rows until the
        // next rematch rewrites them.
        migrator.registerMigration("server.v12.finding-digest") { db in
            try db.execute(sql: "ALTER TABLE findings ADD COLUMN digest BLOB")
        }
        // The package URL beside the finding's JSON, for package rules and reports without
        // parsing JSON; NULL on older rows (readers fall back to the JSON).
        migrator.registerMigration("server.v13.finding-purl") { db in
            try db.execute(sql: "ALTER TABLE findings ADD COLUMN purl TEXT")
        }
        // A channel's minimum priority (P1 … P5), beside its minimum severity.
        migrator.registerMigration("server.v14.channel-min-priority") { db in
            try db.execute(sql: "ALTER TABLE notification_channels ADD COLUMN min_priority TEXT")
        }
        return migrator
    }
}
