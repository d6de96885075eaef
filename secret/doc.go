// Package secret holds sekisho's cryptography: password hashing and policy,
// the AES-GCM key ring that encrypts TOTP seeds at rest, random tokens stored
// as hashes, and recovery codes.
//
// Everything here is pure (no database, no HTTP) so that each primitive can be
// proven by its own tests and reviewed in one place; the auth package decides
// when to call it.
//
// TOTP seeds must be readable by the server, so they are encrypted rather
// than hashed, with a key that lives outside the database: a stolen database
// file alone reveals no seed. Each sealed value names its key, so keys can be
// rotated without re-encrypting everything at once (see [Keyring]).
//
// Tokens (sessions, sign-in flows, invitations, password resets) carry 256
// random bits, so a fast unsalted SHA-256 is enough to store them: there is
// nothing to brute-force, and a stolen hash cannot be replayed as a cookie.
// Recovery codes carry only 80 bits and are typed by people, so they are
// stored with the password hasher instead; this package only generates and
// normalizes them.
package secret
