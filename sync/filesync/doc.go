// Package filesync keeps a local folder and a WebDAV folder in step, both
// ways. Three trees meet in a pass: the local folder (sync.LocalFolder),
// the server (sync.FileRemote) and the base in the store (file_entries:
// per path, what was last in step on both sides).
//
// Rules (ARCHITECTURE.md, "Conflicts"; each is enforced where it says):
//   - A local change becomes a row of file_entries (its local state) and
//     an outbox action in one transaction (local.go). Actions coalesce per
//     path: three saves waiting for the server are one upload, because
//     the upload reads the file when it runs, not when it was queued.
//   - A pass never overwrites, removes or downloads over a path with a
//     queued local change (remote.go). The replay's conditional request
//     (If-Match with the base ETag, If-None-Match: * for a create) finds
//     out whether the server changed it meanwhile; a precondition failure
//     is never answered with an overwrite (exec.go).
//   - Changed on both sides: both are kept. The server's version keeps
//     the name; the local one is renamed name.conflict-<host>-<yyyymmdd-
//     hhmmss>.ext, uploaded as a new file, and a conflicts row records
//     it (conflict.go). The same content on both sides is no conflict.
//   - A deletion propagates only when the other side is unchanged since
//     the base; otherwise the changed side wins and is restored.
//   - A file goes into place only whole: downloads are written to a
//     temporary file in the same folder, synced, and renamed, and only
//     if the file there is still the version the pass saw. An upload
//     whose source changed while it was read is uploaded again once the
//     file is still.
//   - A pass that would delete more than MaxDelete percent of the files
//     on either side (or more than MaxDeleteCount) deletes nothing and
//     stops the account's files sync until a forced pass (guard.go).
//   - Remote names that cannot be local paths (.., absolute, NUL, names
//     the local OS refuses, two names that collide on a case-insensitive
//     disk) are reported and never written.
//   - Renames are found (a path gone and a path new with the same content
//     in one pass, or a folder gone and one new holding the same files)
//     and replayed as a MOVE, not as an upload. The server's renames (a
//     file gone and one new with the same ETag and size) are renamed here,
//     not downloaded again; neither counts as a deletion for the guard.
package filesync
