package imap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/emersion/go-imap/v2"

	hsync "github.com/holdover/holdover/sync"
)

var _ hsync.MailWriter = (*Session)(nil)

func toFlags(fs []string) []imap.Flag {
	out := make([]imap.Flag, len(fs))
	for i, f := range fs {
		out[i] = imap.Flag(f)
	}
	return out
}

// StoreFlags implements sync.MailWriter.
func (s *Session) StoreFlags(ctx context.Context, uid uint32, add, remove []string) error {
	return s.guard(ctx, "imap store", func() error {
		set := uidSet([]uint32{uid})
		for _, op := range []struct {
			op    imap.StoreFlagsOp
			flags []string
		}{{imap.StoreFlagsAdd, add}, {imap.StoreFlagsDel, remove}} {
			if len(op.flags) == 0 {
				continue
			}
			if err := s.c.Store(set, &imap.StoreFlags{Op: op.op, Silent: true, Flags: toFlags(op.flags)}, nil).Close(); err != nil {
				return err
			}
		}
		return nil
	})
}

// Move implements sync.MailWriter.
func (s *Session) Move(ctx context.Context, uid uint32, dest string) (uint32, bool, error) {
	var newUID uint32
	found := true
	err := s.guard(ctx, "imap move to "+dest, func() error {
		set := uidSet([]uint32{uid})
		if s.caps.Move {
			data, err := s.c.Move(set, dest).Wait()
			if err != nil {
				return err
			}
			srcSet, _ := data.SourceUIDs.(imap.UIDSet)
			dstSet, _ := data.DestUIDs.(imap.UIDSet)
			newUID, found = movedUID(s.caps, data.UIDValidity, srcSet, dstSet, uid)
			return nil
		}
		if !s.caps.UIDPlus {
			return hsync.Errorf(hsync.Permanent, "imap move", errors.New("the server has neither MOVE nor UIDPLUS; refusing a bare EXPUNGE that could remove other messages"))
		}
		data, err := s.c.Copy(set, dest).Wait()
		if err != nil {
			return err
		}
		newUID, found = movedUID(s.caps, data.UIDValidity, data.SourceUIDs, data.DestUIDs, uid)
		if !found {
			return nil // nothing was copied: do not flag or expunge anything
		}
		if err := s.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			return err
		}
		return s.c.UIDExpunge(set).Close()
	})
	return newUID, found, err
}

// movedUID reads the outcome of a MOVE or COPY. With UIDPLUS a server
// answers COPYUID whenever a message was copied, so no COPYUID means the
// source UID was gone. Without UIDPLUS nothing can be told: found, UID
// unknown (the next sync learns it, reusing the stored body).
func movedUID(caps hsync.MailCaps, validity uint32, src, dst imap.UIDSet, uid uint32) (uint32, bool) {
	if validity == 0 {
		return 0, !caps.UIDPlus
	}
	return copyUID(src, dst, uid)
}

// copyUID finds uid's destination in a COPYUID response.
func copyUID(src, dst imap.UIDSet, uid uint32) (uint32, bool) {
	srcs, ok1 := src.Nums()
	dsts, ok2 := dst.Nums()
	if !ok1 || !ok2 || len(srcs) != len(dsts) {
		return 0, false
	}
	for i, u := range srcs {
		if uint32(u) == uid {
			return uint32(dsts[i]), true
		}
	}
	return 0, false
}

// Expunge implements sync.MailWriter.
func (s *Session) Expunge(ctx context.Context, uid uint32) error {
	if !s.caps.UIDPlus {
		return hsync.Errorf(hsync.Permanent, "imap expunge", errors.New("the server lacks UIDPLUS; refusing a bare EXPUNGE that could remove other messages"))
	}
	return s.guard(ctx, "imap expunge", func() error {
		set := uidSet([]uint32{uid})
		if err := s.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			return err
		}
		return s.c.UIDExpunge(set).Close()
	})
}

// SearchMessageID implements sync.MailWriter.
func (s *Session) SearchMessageID(ctx context.Context, msgID string) ([]uint32, error) {
	var out []uint32
	err := s.guard(ctx, "imap search message-id", func() error {
		data, err := s.c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: msgID}}}, nil).Wait()
		if err != nil {
			return err
		}
		for _, u := range data.AllUIDs() {
			out = append(out, uint32(u))
		}
		return nil
	})
	return out, err
}

// Append implements sync.MailWriter.
func (s *Session) Append(ctx context.Context, folder string, flags []string, date time.Time, size int64, r io.Reader) (uint32, error) {
	var uid uint32
	err := s.guard(ctx, "imap append to "+folder, func() error {
		cmd := s.c.Append(folder, size, &imap.AppendOptions{Flags: toFlags(flags), Time: date})
		n, err := io.Copy(cmd, r)
		if err != nil {
			cmd.Close()
			return err
		}
		if n != size {
			cmd.Close()
			return fmt.Errorf("append: read %d bytes, announced %d", n, size)
		}
		if err := cmd.Close(); err != nil {
			return err
		}
		data, err := cmd.Wait()
		if err != nil {
			return err
		}
		uid = uint32(data.UID)
		return nil
	})
	return uid, err
}
