import Admin
import ArgumentParser
import Foundation
import Server
import Store

struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "Operator tasks on a data directory (safe while the server runs).",
        subcommands: [Init.self, CreateAPIKey.self, CreateUser.self, RotateKEK.self, BackupCommand.self, RestoreCommand.self, Check.self]
    )
}

/// `--database` of the admin commands that work on a running installation's data.
struct DatabaseOption: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The installation's PostgreSQL database (postgres://…; or HARBORGUARD_DATABASE_URL); default: the data directory's SQLite file. The keyring is still read from --data-dir (or HARBORGUARD_KEK_FILE).",
            valueName: "url"))
    var database: String?

    var url: String? {
        database ?? ProcessInfo.processInfo.environment["HARBORGUARD_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }
}

func readSecretFile(_ path: String, what: String) -> String {
    guard let data = FileManager.default.contents(atPath: path) else { fail("cannot read \(what) file \(path)") }
    var s = String(decoding: data, as: UTF8.self)
    while s.hasSuffix("\n") || s.hasSuffix("\r") { s.removeLast() }
    guard !s.isEmpty else { fail("\(what) file \(path) is empty") }
    return s
}

extension AdminCommand {
    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create the keyring, the database and organization 'default'.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            _ = global.bootstrapLogging()
            do {
                let opened = try DataDirectory(global.dataDir).open()
                if let key = opened.initialAdminKey {
                    print(key)
                } else {
                    FileHandle.standardError.write(Data("harborguard: \(global.dataDir) is already initialised\n".utf8))
                }
            } catch {
                fail("\(error)")
            }
        }
    }

    struct CreateAPIKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create-api-key", abstract: "Create an API key and print it alone on stdout.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "owner, admin, developer, ci, auditor or viewer.") var role: String
        @Option(help: "A name for the key.") var name: String
        @Option(help: "Expiry (RFC 3339).") var expiresAt: String?
        @OptionGroup var database: DatabaseOption

        func run() async throws {
            _ = global.bootstrapLogging()
            guard let r = Role(rawValue: role) else {
                fail("unknown role '\(role)'; one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))", code: 64)
            }
            guard (1...100).contains(name.count) else { fail("--name must be 1-100 characters", code: 64) }
            var expiry: Date?
            if let expiresAt {
                guard let d = RFC3339.parse(expiresAt), d > Date() else { fail("--expires-at must be a future RFC 3339 time", code: 64) }
                expiry = d
            }
            do {
                print(try await AdminTasks.createAPIKey(
                    dataDir: DataDirectory(global.dataDir), databaseURL: database.url, name: name, role: r, expiresAt: expiry))
            } catch {
                fail("\(error)")
            }
        }
    }

    struct CreateUser: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create-user", abstract: "Create a user who can sign in to the API and console.")
        @OptionGroup var global: GlobalOptions
        @Option var username: String
        @Option(help: "owner, admin, developer, ci, auditor or viewer.") var role: String
        @Option(help: "File holding the password (or HARBORGUARD_PASSWORD).") var passwordFile: String?
        @Option(help: "bcrypt cost.") var bcryptCost: UInt8 = 12
        @OptionGroup var database: DatabaseOption

        func run() async throws {
            _ = global.bootstrapLogging()
            guard let r = Role(rawValue: role) else { fail("unknown role '\(role)'", code: 64) }
            let password: String
            if let passwordFile {
                password = readSecretFile(passwordFile, what: "password")
            } else if let p = ProcessInfo.processInfo.environment["HARBORGUARD_PASSWORD"], !p.isEmpty {
                password = p
            } else {
                fail("give the password with --password-file FILE or HARBORGUARD_PASSWORD", code: 64)
            }
            if let problem = Passwords.validate(password) { fail("password: \(problem)", code: 64) }
            guard (4...31).contains(bcryptCost) else { fail("--bcrypt-cost must be 4-31", code: 64) }
            do {
                let id = try await AdminTasks.createUser(
                    dataDir: DataDirectory(global.dataDir), databaseURL: database.url, username: username, password: password, role: r, cost: bcryptCost)
                print(id)
            } catch {
                fail("\(error)")
            }
        }
    }

    struct RotateKEK: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-kek", abstract: "Re-wrap every data key under a new key-encryption key.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var database: DatabaseOption

        func run() async throws {
            _ = global.bootstrapLogging()
            do {
                let report = try await KEKRotation.rotate(dataDir: DataDirectory(global.dataDir), databaseURL: database.url)
                print("new KEK \(report.newKekId); re-wrapped \(report.rewrapped) data keys; retired \(report.retired.joined(separator: ", "))")
            } catch {
                fail("\(error)")
            }
        }
    }

    struct BackupCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "backup", abstract: "Write an encrypted, authenticated snapshot (safe while serving).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Backup file to write.") var out: String
        @Option(help: "Also seal the keyring under this passphrase, for restoring on a new host.") var passphraseFile: String?
        @OptionGroup var database: DatabaseOption

        func run() async throws {
            _ = global.bootstrapLogging()
            let passphrase = passphraseFile.map { readSecretFile($0, what: "passphrase") }
            do {
                let bytes = try await Backup.create(
                    dataDir: DataDirectory(global.dataDir), databaseURL: database.url, out: out, passphrase: passphrase)
                print("wrote \(out) (\(bytes) bytes of data\(passphrase != nil ? ", keyring included" : ""))")
            } catch {
                fail("backup failed: \(error)")
            }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify the database's integrity and that every secret opens with the keyring.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var database: DatabaseOption

        func run() async throws {
            _ = global.bootstrapLogging()
            do {
                let r = try await HealthCheck.run(dataDir: DataDirectory(global.dataDir), databaseURL: database.url)
                print("database integrity: \(r.integrity)")
                print("secrets: \(r.secrets) sealed, \(r.unreadable.count) unreadable (keyring \(r.keyringPath))")
                for u in r.unreadable { print("  unreadable: \(u)") }
                if !r.ok { throw ExitCode(2) }
            } catch let e as ExitCode {
                throw e
            } catch {
                fail("\(error)")
            }
        }
    }

    struct RestoreCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "restore", abstract: "Restore a backup into an empty data directory.")
        @OptionGroup var global: GlobalOptions
        @Option(name: .customLong("in"), help: "Backup file to read.") var input: String
        @Option(help: "Passphrase file the backup was made with.") var passphraseFile: String?
        @Option(help: "Keyring holding the backup's KEK (default: the data directory's, or HARBORGUARD_KEK_FILE).") var keyring: String?
        @Option(
            help: ArgumentHelp(
                "Restore into this empty PostgreSQL database instead (postgres://USER@HOST:PORT/DB?sslmode=…; also HARBORGUARD_DATABASE_URL). The keyring still goes to --data-dir.",
                valueName: "url"))
        var database: String?

        func run() async throws {
            _ = global.bootstrapLogging()
            let passphrase = passphraseFile.map { readSecretFile($0, what: "passphrase") }
            let url = database ?? ProcessInfo.processInfo.environment["HARBORGUARD_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
            do {
                let report = try await Backup.restore(
                    input: input, dataDir: DataDirectory(global.dataDir), passphrase: passphrase, keyringFile: keyring,
                    database: url)
                let rows = report.counts.values.reduce(0, +)
                let detail = report.format == 2
                    ? "\(rows) rows in \(report.counts.filter { $0.value > 0 }.count) tables, \(report.secretsVerified) secrets opened with the keyring"
                    : "SQLite file image, \(report.secretsVerified) secrets opened with the keyring"
                print("restored \(input) into \(report.target) (\(detail))")
            } catch {
                fail("restore failed: \(error)")
            }
        }
    }
}
