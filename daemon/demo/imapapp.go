package demo

import (
	"fmt"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// appMoved is the message a mail app moves through holdover's IMAP
// endpoint during the outage.
const appMoved = "demo-1@example.com"

// moveThroughIMAPEndpoint is a mail app pointed at holdover instead of
// the provider: it moves a message to Archive with UID MOVE while the
// provider is down, and gets its OK (and COPYUID) at once.
func (d *demo) moveThroughIMAPEndpoint() error {
	c, err := imapclient.DialInsecure(d.localIMAP, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Login("you", "demo-local-password").Wait(); err != nil {
		return err
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		return err
	}
	data, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: appMoved}}}, nil).Wait()
	if err != nil || len(data.AllUIDs()) != 1 {
		return fmt.Errorf("demo: %s is not in holdover's INBOX exactly once (%v)", appMoved, err)
	}
	moved, err := c.Move(imap.UIDSetNum(data.AllUIDs()...), "Archive").Wait()
	if err != nil {
		return fmt.Errorf("demo: MOVE through holdover's IMAP endpoint: %w", err)
	}
	d.say("  a mail app moved <%s> to Archive through holdover's IMAP endpoint (%s): OK [COPYUID %d %v %v]",
		appMoved, d.localIMAP, moved.UIDValidity, moved.SourceUIDs, moved.DestUIDs)
	return c.Logout().Wait()
}

// checkAppMove asks the provider whether the mail app's move arrived,
// once.
func (p *imapProvider) checkAppMove() error {
	c, err := p.otherClient()
	if err != nil {
		return err
	}
	defer c.Close()
	for folder, want := range map[string]int{"INBOX": 0, "Archive": 1} {
		if _, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			return err
		}
		data, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: appMoved}}}, nil).Wait()
		if err != nil {
			return err
		}
		if n := len(data.AllUIDs()); n != want {
			return fmt.Errorf("demo: the provider has %d copies of <%s> in %s, want %d", n, appMoved, folder, want)
		}
	}
	return nil
}
