package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/mailsync"
)

// mailCmd: every subcommand but verify reads the local store only, so it
// works with the provider down and the daemon stopped.
func (a *app) mailCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "mail", Short: "Read and change the local mail mirror, send mail (works offline)"}
	var account string
	cmd.PersistentFlags().StringVar(&account, "account", "", "only this account")
	cmd.AddCommand(a.mailFoldersCmd(&account), a.mailLsCmd(&account), a.mailSearchCmd(&account), a.mailShowCmd(),
		a.mailFlagCmd(), a.mailMoveCmd(), a.mailDeleteCmd(), a.mailSendCmd(&account), a.mailVerifyCmd(&account))
	return cmd
}

func (a *app) mailFoldersCmd(account *string) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use: "folders", Short: "List mirrored folders with message and unread counts", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, db, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			fs, err := db.MailFolderSummaries(cmd.Context(), *account)
			if err != nil {
				return err
			}
			if asJSON {
				type folderJSON struct {
					Account    string     `json:"account"`
					Name       string     `json:"name"`
					SpecialUse string     `json:"special_use,omitempty"`
					Messages   int        `json:"messages"`
					Unread     int        `json:"unread"`
					SyncedAt   *time.Time `json:"synced_at,omitempty"`
				}
				out := []folderJSON{}
				for _, f := range fs {
					j := folderJSON{Account: f.Account, Name: f.Name, SpecialUse: f.SpecialUse, Messages: f.Count, Unread: f.Unread}
					if !f.SyncedAt.IsZero() {
						t := f.SyncedAt
						j.SyncedAt = &t
					}
					out = append(out, j)
				}
				return a.printJSON(out)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ACCOUNT\tFOLDER\tSPECIAL\tMESSAGES\tUNREAD")
			for _, f := range fs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", f.Account, f.Name, f.SpecialUse, f.Count, f.Unread)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// messageJSON is the --json shape of a message.
type messageJSON struct {
	ID        int64     `json:"id"`
	Account   string    `json:"account"`
	Folder    string    `json:"folder"`
	UID       uint32    `json:"uid"`
	MessageID string    `json:"message_id"`
	Date      time.Time `json:"date"`
	From      string    `json:"from"`
	To        string    `json:"to,omitempty"`
	Subject   string    `json:"subject"`
	Flags     []string  `json:"flags"`
	Size      int64     `json:"size"`
}

func toMessageJSON(m store.MailMessage) messageJSON {
	flags := m.Flags
	if flags == nil {
		flags = []string{}
	}
	return messageJSON{ID: m.ID, Account: m.Account, Folder: m.Folder, UID: m.UID, MessageID: m.MessageID,
		Date: messageDate(m), From: m.From, To: m.To, Subject: m.Subject, Flags: flags, Size: m.Size}
}

// messageDate prefers the Date: header, falling back to the server's
// internal date.
func messageDate(m store.MailMessage) time.Time {
	if !m.Date.IsZero() {
		return m.Date
	}
	return m.InternalDate
}

func (a *app) printMessages(msgs []store.MailMessage, asJSON bool) error {
	if asJSON {
		out := make([]messageJSON, 0, len(msgs))
		for _, m := range msgs {
			out = append(out, toMessageJSON(m))
		}
		return a.printJSON(out)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFOLDER\tUID\tDATE\tFROM\tSUBJECT\tFLAGS\tSIZE\tMESSAGE-ID")
	for _, m := range msgs {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\t%s\t%d\t%s\n", m.ID, m.Folder, m.UID, messageDate(m).Local().Format("2006-01-02 15:04"),
			clip(m.From, 30), clip(m.Subject, 50), strings.Join(m.Flags, " "), m.Size, m.MessageID)
	}
	return tw.Flush()
}

func clip(s string, n int) string {
	r := []rune(strings.Map(func(r rune) rune {
		if r < ' ' {
			return ' '
		}
		return r
	}, s))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n-1]) + "…"
}

func (a *app) mailLsCmd(account *string) *cobra.Command {
	var folder string
	var limit int
	var unread, asJSON bool
	cmd := &cobra.Command{
		Use: "ls", Short: "List messages, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, db, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			msgs, err := db.ListMailMessages(cmd.Context(), store.MailFilter{Account: *account, Folder: folder, Unread: unread, Limit: limit})
			if err != nil {
				return err
			}
			return a.printMessages(msgs, asJSON)
		},
	}
	cmd.Flags().StringVar(&folder, "folder", "", "only this folder")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many (0: all)")
	cmd.Flags().BoolVar(&unread, "unread", false, "only messages without \\Seen")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) mailSearchCmd(account *string) *cobra.Command {
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "search QUERY",
		Short: `Full-text search: words, "quoted phrases", from:, to:, subject:, body:`,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := store.MailSearchQuery(strings.Join(args, " "))
			if err != nil {
				return err
			}
			_, db, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			msgs, err := db.SearchMail(cmd.Context(), *account, q, limit)
			if err != nil {
				return err
			}
			return a.printMessages(msgs, asJSON)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) mailShowCmd() *cobra.Command {
	var raw bool
	cmd := &cobra.Command{
		Use: "show ID", Short: "Show a message's headers and decoded text, or with --raw its exact bytes", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseMessageID(args[0])
			if err != nil {
				return err
			}
			_, db, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			m, err := db.MailMessageByID(cmd.Context(), id)
			if err != nil {
				return err
			}
			body, err := db.OpenMailBody(cmd.Context(), m.BodyID)
			if err != nil {
				return err
			}
			if raw {
				_, err := io.Copy(a.stdout, body)
				return err
			}
			fmt.Fprintf(a.stdout, "From:    %s\n", m.From)
			fmt.Fprintf(a.stdout, "To:      %s\n", m.To)
			if m.Cc != "" {
				fmt.Fprintf(a.stdout, "Cc:      %s\n", m.Cc)
			}
			fmt.Fprintf(a.stdout, "Date:    %s\n", messageDate(m).Local().Format(time.RFC1123Z))
			fmt.Fprintf(a.stdout, "Subject: %s\n", m.Subject)
			fmt.Fprintf(a.stdout, "Folder:  %s/%s (uid %d)  Flags: %s\n\n", m.Account, m.Folder, m.UID, strings.Join(m.Flags, " "))
			fmt.Fprintln(a.stdout, mailsync.ExtractText(body, 64<<20))
			return nil
		},
	}
	cmd.Flags().BoolVar(&raw, "raw", false, "print the exact RFC 5322 bytes")
	return cmd
}

func parseMessageID(s string) (int64, error) {
	var id int64
	if _, err := fmt.Sscan(s, &id); err != nil || id <= 0 {
		return 0, fmt.Errorf("message ID %q: want the number from holdover mail ls", s)
	}
	return id, nil
}
