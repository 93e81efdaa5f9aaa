package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
)

// A body reads back byte for byte at every size around the chunk size,
// and a chunk lost from the database is an error, never a short body
// that looks complete.
func TestOpenMailBodyReadsEveryChunkAndNothingElse(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	if err := db.EnsureAccounts(ctx, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{0, 1, BodyChunkSize - 1, BodyChunkSize, BodyChunkSize + 1, 3*BodyChunkSize + 17} {
		want := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		var id int64
		err := db.Write(ctx, func(tx *Tx) error {
			var err error
			id, err = tx.InsertMailBody(ctx, "a", fmt.Sprintf("s%d@x", size), int64(size), bytes.NewReader(want))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		r, err := db.OpenMailBody(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("size %d: read %d bytes, %v", size, len(got), err)
		}
		if size > BodyChunkSize {
			if _, err := db.w.ExecContext(ctx, `DELETE FROM mail_body_chunks WHERE body_id = ? AND seq = 1`, id); err != nil {
				t.Fatal(err)
			}
			r, err := db.OpenMailBody(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadAll(r); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("size %d without its second chunk: %v, want io.ErrUnexpectedEOF", size, err)
			}
		}
	}
	if _, err := db.OpenMailBody(ctx, 999999); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown body: %v", err)
	}
}
