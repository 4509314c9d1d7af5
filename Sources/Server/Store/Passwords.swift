import HummingbirdBcrypt
import Registry

/// bcrypt off the event loop and the cooperative pool (`Blocking.run`).
public enum Passwords {
    public static func hash(_ password: String, cost: UInt8) async throws -> String {
        try await Blocking.run { Bcrypt.hash(password, cost: cost) }
    }

    public static func verify(_ password: String, hash: String) async throws -> Bool {
        try await Blocking.run { Bcrypt.verify(password, hash: hash) }
    }

    public static func validate(_ password: String) -> String? {
        if password.count < 12 { return "Must be at least 12 characters." }
        if password.utf8.count > 72 { return "Must be at most 72 bytes (bcrypt's limit)." }
        return nil
    }
}
