import Hummingbird
import Store

extension AppServices {
    /// The session cookie as Hummingbird's `Cookie`: `__Host-` name and `Secure` under TLS,
    /// `Path=/`, no `Domain`, `HttpOnly`, `SameSite=Lax`, and `Max-Age` (the session lifetime;
    /// 0 clears it).
    func sessionCookie(token: String, maxAge: Int) -> Cookie {
        Cookie(
            name: sessionCookieName, value: token, maxAge: maxAge, path: "/", secure: config.tls, httpOnly: true,
            sameSite: .lax)
    }

    /// The cookie a sign-in sets.
    func sessionCookie(token: String) -> Cookie { sessionCookie(token: token, maxAge: Int(config.sessionLifetime)) }

    /// The cookie a sign-out sets: the same name and scope, empty and expired.
    var clearedSessionCookie: Cookie { sessionCookie(token: "", maxAge: 0) }
}
