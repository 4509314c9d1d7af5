import HummingbirdBcrypt
import NIOPosix

/// bcrypt off the event loop.
public enum Passwords {
    public static func hash(_ password: String, cost: UInt8) async throws -> String {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    public static func verify(_ password: String, hash: String) async throws -> Bool {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
    }

    public static func validate(_ password: String) -> String? {
        if password.count < 12 { return "Must be at least 12 characters." }
        if password.utf8.count > 72 { return "Must be at most 72 bytes (bcrypt's limit)." }
        return nil
    }
}
