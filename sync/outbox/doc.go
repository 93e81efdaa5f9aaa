// Package outbox carries local changes to the providers: it is the only
// way a local change enters the queue, and the worker that replays it.
//
// The rules, each enforced here or in the store queries this package uses:
//
//   - One transaction per change: the change to the local mirror and its
//     outbox row commit together (store.DB.Write), before the user gets an
//     acknowledgement (CLI exit 0, SMTP 250). Nothing acknowledged is
//     lost; nothing half-applied is queued.
//   - States: pending → inflight → done. A transient failure makes the row
//     failed, due again at next_attempt_at (exponential backoff with full
//     jitter, capped at 5 minutes: internal/backoff.Outbox). A provider
//     saying the target changed makes it conflict; a permanent refusal
//     makes it dead, with its payload and the provider's reply kept and
//     retryable by hand (holdover outbox retry). The user may cancel what
//     is not inflight or finished.
//   - One action in flight per target_key, in creation order per key; a
//     conflict that waits for a person (an open row in conflicts: a
//     calendar edit made on both sides, a send that may have gone) blocks
//     its key until resolved. A conflict the provider settled by itself
//     (a move or delete of a message another client moved or deleted
//     first: the server's side wins) blocks nothing; the actions queued
//     behind it are cancelled and the local view goes back to the
//     server's, so the mirror converges instead of waiting for good. Keys: "mail:<message row
//     id>" for flags, moves and deletes of one message, "send:<Message-ID>"
//     for a message to send, "cal:<object id>", "file:<path>". An action
//     may name a second key (target_key2) that it waits on as well, and
//     that later actions wait on: a file move waits for its source, a file
//     for its folder's queued creation (package filesync).
//   - Coalescing: a flag change on a message whose newest action is a
//     still-pending flag change merges into it (deltas compose); an upload
//     of a file into a pending upload of the same path (the upload reads
//     the file when it runs); nothing else coalesces.
//   - Several workers may replay one service's actions in parallel (file
//     transfers): they share one Breaker, so DownAfter failures in a row
//     mean an outage whichever worker met them, and the recovery of
//     actions a crash left inflight runs once, before any of them claims.
//   - inflight is written durably before the provider is asked. After a
//     crash, an inflight row is looked at before it is tried again: a send
//     is searched for in the Sent folder by its Message-ID (sent already:
//     done), a move checks where the message is, a flag delta is simply
//     re-applied (deltas are idempotent).
//   - The Message-ID of a message to send is fixed at enqueue (added when
//     missing), so a replay is recognisable on the server.
//   - A message put in a folder locally (Append: an IMAP APPEND; Copy: an
//     IMAP COPY) is a local-only row (no remote location; migration 0013)
//     shown at once with its body in the store and a local UID, and a
//     mail.append on its key ("mail:<row id>"), so the flags, moves and
//     deletes made on it afterwards replay after it. The replay uploads
//     the stored body with the row's flags as they are then, and binds
//     the server's copy to that same row (APPENDUID, else a search by
//     Message-ID): the row keeps its id and local UID, and a sync pass
//     sees a message it has. A pass that meets the copy first (the
//     replay's outcome not recorded yet) binds it by Message-ID and size
//     instead of adding a row, and the retried append then finds the row
//     bound, or the copy in the folder, and appends nothing. Only a
//     message with neither a Message-ID nor APPENDUID can come back as a
//     second row. COPY is replayed as such an append of the stored body,
//     not as UID COPY: it needs nothing the source may still be waiting
//     for (its own append or move), costs no download, and shares one
//     replay path with APPEND; the price is an upload the server could
//     have saved. Append spools the client's bytes to SpoolDir before the
//     transaction and refuses more than AppendLimit.
//   - Expunge removes a message for good (IMAP EXPUNGE: mail.delete with
//     no Trash, replayed as \Deleted + UID EXPUNGE); Delete (the CLI)
//     moves to Trash unless the message is in Trash already.
//   - Replays are conditional where the protocol allows: flags are sent as
//     +FLAGS/-FLAGS deltas (concurrent changes merge), a move of a message
//     the server no longer has ends as a conflict, a folder that vanished
//     as dead; never a crash loop.
package outbox
