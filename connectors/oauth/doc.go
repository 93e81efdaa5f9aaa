// Package oauth signs holdover in to OAuth2 identity providers (Microsoft
// Entra ID, Google, or any RFC 6749 server) and hands out access tokens
// to the connectors (connectors/imap and connectors/smtp declare the
// TokenSource they need; *Source implements it).
//
// Sign-in is the provider's control plane and the mail servers its data
// plane: this package keeps them failing apart. Invariants:
//
//   - One token file per account, <data_dir>/tokens/<account>.json, in a
//     directory of mode 0700, written as 0600 with internal/atomicfile
//     (never truncated in place). A file readable by anyone but its owner
//     is refused, with the chmod to run. For service installs the first
//     refresh token may come from a systemd credential instead; from then
//     on the file holds the rotated one (a credential that changes wins
//     over the file again, see Config.Credential). The design is
//     per-account, not per-protocol, so later Graph (calendar, files)
//     connectors reuse the same sign-in.
//   - No token, refresh token or client secret ever appears in an error,
//     a log line (at any level) or anything returned for display; Info
//     says only whether a token exists and when it expires.
//   - A Source refreshes EarlyRefresh (default 5 min) before the access
//     token expires, so minutes of clock skew are harmless, and one
//     refresh runs at a time per account: IMAP, IDLE and SMTP calling at
//     once cause one token request. A rotated refresh token is on disk
//     before the new access token is handed out.
//   - While the cached access token is still valid for at least a
//     minute, the identity provider being down changes nothing: the
//     cached token is returned without error.
//   - Errors are classified here (sync.Errorf): the identity provider
//     unreachable, answering 5xx/429 or an HTML page → sync.Transient
//     ("identity provider unreachable: …"); invalid_grant, no stored
//     sign-in or a refused token file → sync.NeedsLogin; the client
//     refused (invalid_client, unauthorized_client) → sync.Auth.
//   - After invalid_grant a Source does not ask the identity provider
//     again until the token file changes (a login wrote a new one): a
//     revoked sign-in costs one token request, not a retry storm.
package oauth
