package filesync_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/filesync"
)

func TestInitialSyncBothWaysMergesTheTrees(t *testing.T) {
	e := newEnv(t)
	e.writeRemote(t, "docs/report.txt", "server report")
	e.writeRemote(t, "docs/deep/er/notes.md", "deep notes")
	e.writeRemote(t, "top.txt", "top")
	e.writeLocal(t, "photos/cat.jpg", "meow")
	e.writeLocal(t, "docs/local-only.txt", "mine")
	e.writeLocal(t, "empty/", "")
	e.removeLocal(t, "empty/")
	st := e.sync(t)
	if st.Downloaded != 3 || st.Queued < 2 {
		t.Errorf("stats %+v: want 3 downloads and the local files queued", st)
	}
	e.sameTrees(t, map[string]string{
		"docs/": "", "docs/deep/": "", "docs/deep/er/": "", "photos/": "",
		"docs/report.txt": "server report", "docs/deep/er/notes.md": "deep notes", "top.txt": "top",
		"photos/cat.jpg": "meow", "docs/local-only.txt": "mine",
	})
	// A second pass finds nothing to do.
	if st := e.sync(t); st != (filesync.Stats{}) {
		t.Errorf("no-op pass did %+v", st)
	}
	e.integrity(t)
}

func TestChangesOnEachSidePropagate(t *testing.T) {
	e := newEnv(t)
	e.writeRemote(t, "a.txt", "a1")
	e.writeRemote(t, "b.txt", "b1")
	e.writeRemote(t, "dir/c.txt", "c1")
	e.writeRemote(t, "gone/x.txt", "x")
	e.sync(t)

	e.writeLocal(t, "a.txt", "a2 local edit")
	e.writeRemote(t, "b.txt", "b2 server edit")
	e.writeLocal(t, "new-local.txt", "nl")
	e.writeRemote(t, "dir/new-remote.txt", "nr")
	e.removeLocal(t, "dir/c.txt")
	e.removeLocal(t, "gone")
	e.sync(t)
	e.sameTrees(t, map[string]string{
		"a.txt": "a2 local edit", "b.txt": "b2 server edit", "new-local.txt": "nl",
		"dir/": "", "dir/new-remote.txt": "nr",
	})

	// Deletions on the server reach the folder.
	if err := e.other.Delete(context.Background(), "a.txt", ""); err != nil {
		t.Fatal(err)
	}
	if err := e.other.Delete(context.Background(), "dir", ""); err != nil {
		t.Fatal(err)
	}
	st := e.sync(t)
	if st.RemovedLocal != 3 {
		t.Errorf("removed %d locally, want 3 (a.txt, dir, dir/new-remote.txt)", st.RemovedLocal)
	}
	e.sameTrees(t, map[string]string{"b.txt": "b2 server edit", "new-local.txt": "nl"})
	e.integrity(t)
}

func TestLocalRenamesAreReplayedAsMoves(t *testing.T) {
	e := newEnv(t)
	e.writeRemote(t, "old.txt", "content of old")
	e.writeRemote(t, "folder/one.txt", "one")
	e.writeRemote(t, "folder/sub/two.txt", "two")
	e.sync(t)
	before := e.apacheRequests(t, "PUT")

	renameLocal(t, e, "old.txt", "new.txt")
	renameLocal(t, e, "folder", "renamed")
	st := e.sync(t)
	if st.Moves != 2 {
		t.Errorf("found %d renames, want 2", st.Moves)
	}
	if puts := e.apacheRequests(t, "PUT") - before; puts != 0 {
		t.Errorf("renames uploaded %d files again, want 0 (MOVE)", puts)
	}
	e.sameTrees(t, map[string]string{
		"new.txt": "content of old", "renamed/": "", "renamed/one.txt": "one",
		"renamed/sub/": "", "renamed/sub/two.txt": "two",
	})
	// The moved files are in step: a later edit is a plain update.
	e.writeLocal(t, "renamed/sub/two.txt", "two, edited")
	e.sync(t)
	if got, _ := e.readRemote(t, "renamed/sub/two.txt"); got != "two, edited" {
		t.Errorf("server has %q after editing a moved file", got)
	}
	if c := conflictCopies(e.localTree(t)); len(c) != 0 {
		t.Errorf("conflict copies after a rename: %v", c)
	}
}

func TestBothSidesEditedKeepsBothVersions(t *testing.T) {
	e := newEnv(t)
	e.bothEdited(t, "plan.docx", "v2 from the laptop", "v2 from the phone")

	tree := e.localTree(t)
	copies := conflictCopies(tree)
	if len(copies) != 1 || !strings.HasPrefix(copies[0], "plan.conflict-laptop-") || !strings.HasSuffix(copies[0], ".docx") {
		t.Fatalf("conflict copies %v in\n%s", copies, dump(tree))
	}
	e.sameTrees(t, map[string]string{"plan.docx": "v2 from the phone", copies[0]: "v2 from the laptop"})
	cs, err := e.db.Conflicts(context.Background(), store.ConflictFilter{Account: "work", OpenOnly: true})
	if err != nil || len(cs) != 1 || cs[0].Kind != "file" || !strings.Contains(cs[0].LocalMeta, copies[0]) {
		t.Fatalf("conflicts %+v, %v", cs, err)
	}
}

func TestSameEditOnBothSidesIsNoConflict(t *testing.T) {
	e := newEnv(t)
	e.writeRemote(t, "same.txt", "v1")
	e.sync(t)
	e.writeLocal(t, "same.txt", "v2 everywhere")
	e.writeRemote(t, "same.txt", "v2 everywhere")
	e.sync(t)
	e.sameTrees(t, map[string]string{"same.txt": "v2 everywhere"})
}

func TestDeleteLosesToAnEditOnTheOtherSide(t *testing.T) {
	e := newEnv(t)
	e.writeRemote(t, "keep-remote.txt", "r1")
	e.writeRemote(t, "keep-local.txt", "l1")
	e.sync(t)
	e.removeLocal(t, "keep-remote.txt")
	e.writeRemote(t, "keep-remote.txt", "r2 edited on the server")
	if err := e.other.Delete(context.Background(), "keep-local.txt", ""); err != nil {
		t.Fatal(err)
	}
	e.writeLocal(t, "keep-local.txt", "l2 edited here")
	e.sync(t)
	e.sameTrees(t, map[string]string{"keep-remote.txt": "r2 edited on the server", "keep-local.txt": "l2 edited here"})
}

func TestMassDeleteGuardStopsBothWays(t *testing.T) {
	for _, side := range []string{"local", "server"} {
		t.Run("deleted on the "+side, func(t *testing.T) {
			e := newEnv(t)
			want := map[string]string{"d/": ""}
			for i := range 20 {
				p := fmt.Sprintf("d/f%02d.txt", i)
				e.writeRemote(t, p, p)
				want[p] = p
			}
			e.sync(t)
			for i := range 15 {
				p := fmt.Sprintf("d/f%02d.txt", i)
				if side == "local" {
					e.removeLocal(t, p)
				} else if err := e.other.Delete(context.Background(), p, ""); err != nil {
					t.Fatal(err)
				}
			}
			_, err := e.eng.Sync(context.Background(), filesync.SyncOptions{})
			if !errors.Is(err, filesync.ErrGuard) || !strings.Contains(err.Error(), "15 of 20") {
				t.Fatalf("pass: %v, want the guard (15 of 20)", err)
			}
			e.drain(t)
			if side == "local" {
				if got := e.remoteTree(t); len(got) != 21 {
					t.Fatalf("the server lost files despite the guard:\n%s", dump(got))
				}
			} else if got := e.localTree(t); len(got) != 21 {
				t.Fatalf("the folder lost files despite the guard:\n%s", dump(got))
			}
			// Stopped until forced: a plain pass refuses again.
			if _, err := e.eng.Sync(context.Background(), filesync.SyncOptions{}); !errors.Is(err, filesync.ErrGuard) {
				t.Fatalf("second pass: %v, want the guard", err)
			}
			root, _ := e.db.FileRoot(context.Background(), "work")
			if root.Guard == "" {
				t.Fatal("the guard is not recorded for status")
			}
			if _, err := e.eng.Sync(context.Background(), filesync.SyncOptions{Force: true}); err != nil {
				t.Fatalf("forced pass: %v", err)
			}
			e.sync(t)
			keep := map[string]string{"d/": ""}
			for i := 15; i < 20; i++ {
				p := fmt.Sprintf("d/f%02d.txt", i)
				keep[p] = p
			}
			e.sameTrees(t, keep)
			if root, _ := e.db.FileRoot(context.Background(), "work"); root.Guard != "" {
				t.Fatalf("guard still on after the forced pass: %q", root.Guard)
			}
		})
	}
}

func TestOfflineChangesUploadOnceAndMeetServerChangesAsConflicts(t *testing.T) {
	e := newEnv(t)
	e.writeRemote(t, "shared.txt", "v1")
	e.writeRemote(t, "mine.txt", "m1")
	e.sync(t)

	e.proxy.Down()
	e.writeLocal(t, "shared.txt", "offline edit")
	e.writeLocal(t, "mine.txt", "m2 offline")
	e.writeLocal(t, "mine.txt", "m3 offline")
	e.writeLocal(t, "mine.txt", "m4 offline") // three saves, one upload
	e.writeLocal(t, "new.txt", "new offline")
	if _, err := e.eng.Sync(context.Background(), filesync.SyncOptions{}); err == nil {
		t.Fatal("a pass with the server down succeeded")
	}
	if st, err := e.eng.ScanLocal(context.Background()); err != nil || st.Queued != 0 {
		t.Fatalf("rescan queued %d more (%v): the first pass queued everything", st.Queued, err)
	}
	if n := e.open(t); n != 3 {
		t.Fatalf("%d actions wait, want 3 (coalesced): %v", n, e.states(t))
	}
	e.drain(t) // fails: down
	e.writeRemote(t, "shared.txt", "edited on the phone during the outage")
	e.proxy.Up()
	before := map[string]int{}
	for _, p := range []string{"mine.txt", "new.txt"} {
		before[p] = e.apacheRequests(t, "PUT /dav/"+p)
	}
	if _, err := e.db.ExpediteFailed(context.Background(), "work", filesync.Kinds); err != nil {
		t.Fatal(err)
	}
	e.sync(t)
	tree := e.localTree(t)
	copies := conflictCopies(tree)
	if len(copies) != 1 {
		t.Fatalf("conflict copies %v in\n%s", copies, dump(tree))
	}
	e.sameTrees(t, map[string]string{
		"shared.txt": "edited on the phone during the outage", copies[0]: "offline edit",
		"mine.txt": "m4 offline", "new.txt": "new offline",
	})
	// Three saves, one upload; each new file once.
	for _, p := range []string{"mine.txt", "new.txt", copies[0]} {
		if n := e.apacheRequests(t, "PUT /dav/"+url.PathEscape(p)) - before[p]; n != 1 {
			t.Errorf("%s uploaded %d times, want once", p, n)
		}
	}
	e.integrity(t)
}

func TestDecidingAFileConflictTidiesBothSides(t *testing.T) {
	for _, take := range []string{filesync.TakeLocal, filesync.TakeRemote, filesync.TakeBoth} {
		t.Run(take, func(t *testing.T) {
			e := newEnv(t)
			e.bothEdited(t, "plan.txt", "mine", "theirs")
			cs, err := e.db.Conflicts(context.Background(), store.ConflictFilter{Account: "work", OpenOnly: true})
			if err != nil || len(cs) != 1 {
				t.Fatalf("conflicts %v %v", cs, err)
			}
			copyName := conflictCopies(e.localTree(t))[0]
			if err := filesync.ResolveConflict(context.Background(), e.db, e.opts.Local, cs[0], take); err != nil {
				t.Fatal(err)
			}
			e.sync(t)
			want := map[string]string{
				filesync.TakeLocal:  "mine",
				filesync.TakeRemote: "theirs",
				filesync.TakeBoth:   "theirs",
			}[take]
			tree := map[string]string{"plan.txt": want}
			if take == filesync.TakeBoth {
				tree[copyName] = "mine"
			}
			e.sameTrees(t, tree)
			if open, _ := e.db.Conflicts(context.Background(), store.ConflictFilter{Account: "work", OpenOnly: true}); len(open) != 0 {
				t.Errorf("still open: %+v", open)
			}
		})
	}
}

func TestAConflictCopyEditedSinceIsNeverDeletedByADecision(t *testing.T) {
	e := newEnv(t)
	e.bothEdited(t, "plan.txt", "mine", "theirs")
	cs, _ := e.db.Conflicts(context.Background(), store.ConflictFilter{Account: "work", OpenOnly: true})
	copyName := conflictCopies(e.localTree(t))[0]
	e.writeLocal(t, copyName, "mine, and more work since")
	err := filesync.ResolveConflict(context.Background(), e.db, e.opts.Local, cs[0], filesync.TakeRemote)
	if err == nil || !strings.Contains(err.Error(), "changed since") {
		t.Fatalf("resolve: %v, want a refusal", err)
	}
	if got, _ := e.readLocal(t, copyName); got != "mine, and more work since" {
		t.Fatalf("the copy holds %q", got)
	}
}

func TestAFileReplacedByAFolderOfTheSameName(t *testing.T) {
	e := newEnv(t)
	e.writeRemote(t, "thing", "a file")
	e.sync(t)
	e.removeLocal(t, "thing")
	e.writeLocal(t, "thing/inside.txt", "now a folder")
	e.sync(t)
	e.sameTrees(t, map[string]string{"thing/": "", "thing/inside.txt": "now a folder"})
}

func TestAFolderReplacedByAFileOfTheSameName(t *testing.T) {
	e := newEnv(t)
	e.writeRemote(t, "thing/a.txt", "a")
	e.writeRemote(t, "thing/sub/b.txt", "b")
	e.sync(t)
	e.removeLocal(t, "thing")
	e.writeLocal(t, "thing", "now a file")
	e.sync(t)
	e.sameTrees(t, map[string]string{"thing": "now a file"})
}

func TestServerRenamesAreRenamedHereNotDownloaded(t *testing.T) {
	e := newEnv(t)
	for i := range 8 {
		p := fmt.Sprintf("old/f%d.txt", i)
		e.writeRemote(t, p, "content "+p)
	}
	e.sync(t)
	if err := e.other.Move(context.Background(), "old", "new", ""); err != nil {
		t.Fatal(err)
	}
	gets := e.apacheRequests(t, "GET")
	st := e.sync(t) // 8 of 8 files "gone" would trip the guard if renames counted
	if st.Renamed != 8 || st.Downloaded != 0 {
		t.Errorf("stats %+v: want 8 renamed, none downloaded", st)
	}
	if n := e.apacheRequests(t, "GET") - gets; n != 0 {
		t.Errorf("%d GETs for a rename on the server", n)
	}
	want := map[string]string{"new/": ""}
	for i := range 8 {
		want[fmt.Sprintf("new/f%d.txt", i)] = fmt.Sprintf("content old/f%d.txt", i)
	}
	e.sameTrees(t, want)
}

func TestWeakBaseETagsBecomeStrongFromTheNextListing(t *testing.T) {
	e := newEnv(t)
	e.writeLocal(t, "fresh.txt", "uploaded")
	e.sync(t)
	time.Sleep(1100 * time.Millisecond) // Apache's ETag turns strong a second after the write
	e.sync(t)
	r, ok, err := e.db.FileEntry(context.Background(), "work", "fresh.txt")
	if err != nil || !ok || strings.HasPrefix(r.ETag, "W/") || r.ETag == "" {
		t.Fatalf("base ETag %q after a listing (%v %v): want the strong form", r.ETag, ok, err)
	}
	e.writeLocal(t, "fresh.txt", "edited")
	e.sync(t)
	if got, _ := e.readRemote(t, "fresh.txt"); got != "edited" {
		t.Fatalf("server has %q", got)
	}
}
