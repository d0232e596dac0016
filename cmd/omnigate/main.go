// Command omnigate is the omnigate daemon and its operator commands:
//
//	omnigate serve                      run the daemon
//	omnigate migrate                    bring the store's schema up to date
//	omnigate policy check FILE          validate a policy file and summarise its rules
//	omnigate outbox ls [--status dead]  list outbox entries
//	omnigate outbox retry ID            replay a dead letter
//	omnigate send --to ... --text ...   send one message through a running daemon
//	omnigate version
//
// Commands that need the configuration take --config FILE (default $OMNIGATE_CONFIG,
// else ./omnigate.yaml).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/omnigate/omnigate/config"
	"github.com/omnigate/omnigate/policy"
	"github.com/omnigate/omnigate/store"
	"github.com/omnigate/omnigate/store/sqlstore"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: omnigate <command> [flags]

commands:
  serve                         run the daemon
  migrate                       bring the store's schema up to date
  policy check FILE             validate a policy file and print its effective rules
  outbox ls [--status dead|pending]
  outbox retry ID               replay a dead letter
  send --key KEY --to TO --text TEXT [--queue Q] [--channel sms] [--url URL]
  version

Commands that need the configuration take --config FILE (default $OMNIGATE_CONFIG or ./omnigate.yaml).
`

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "omnigate:", err)
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError string

func (e usageError) Error() string { return string(e) }

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		return usageError("no command")
	}
	cmd, rest := args[0], args[1:]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfgPath := fs.String("config", config.DefaultPath(), "configuration file")
	switch cmd {
	case "serve":
		if err := fs.Parse(rest); err != nil {
			return usageError(err.Error())
		}
		return serve(*cfgPath)
	case "migrate":
		if err := fs.Parse(rest); err != nil {
			return usageError(err.Error())
		}
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			return err
		}
		db, err := sqlstore.Open(context.Background(), cfg.Store, sqlstore.Options{Dir: cfg.Dir})
		if err != nil {
			return err
		}
		defer db.Close()
		fmt.Fprintln(out, "schema is current")
		return nil
	case "version":
		fmt.Fprintln(out, "omnigate", version)
		return nil
	case "policy":
		if len(rest) != 2 || rest[0] != "check" {
			return usageError("usage: omnigate policy check FILE")
		}
		p, err := policy.Load(rest[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: ok\n%s", rest[1], p.Summary())
		return nil
	case "outbox":
		return outboxCmd(fs, cfgPath, rest, out)
	case "send":
		return sendCmd(rest, out)
	case "help", "-h", "--help":
		fmt.Fprint(out, usage)
		return nil
	}
	return usageError("unknown command " + strconv.Quote(cmd))
}

func outboxCmd(fs *flag.FlagSet, cfgPath *string, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usageError("usage: omnigate outbox ls|retry")
	}
	status := fs.String("status", store.OutboxDead, "dead or pending")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError(err.Error())
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	ctx := context.Background()
	db, err := sqlstore.OpenNoMigrate(ctx, cfg.Store, sqlstore.Options{Dir: cfg.Dir})
	if err != nil {
		return err
	}
	defer db.Close()
	switch args[0] {
	case "ls":
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tSTATUS\tMESSAGE\tATTEMPTS\tDUE\tLAST ERROR")
		var after int64
		for {
			rows, err := db.Outbox(ctx, *status, after, 500)
			if err != nil {
				return err
			}
			for _, r := range rows {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.Kind, r.Status, r.MessageID, r.Attempts,
					r.DueAt.Format(time.RFC3339), r.LastError)
				after = r.ID
			}
			if len(rows) < 500 {
				break
			}
		}
		return tw.Flush()
	case "retry":
		if fs.NArg() != 1 {
			return usageError("usage: omnigate outbox retry ID")
		}
		id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
		if err != nil {
			return usageError("ID must be a number")
		}
		if err := db.RetryDead(ctx, id, time.Now().UTC()); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no dead letter %d", id)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(out, "dead letter %d queued for delivery\n", id)
		return nil
	}
	return usageError("usage: omnigate outbox ls|retry")
}

// sendCmd posts one message to a running daemon's API.
func sendCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	url := fs.String("url", "http://127.0.0.1:8080", "the daemon's base URL")
	key := fs.String("key", os.Getenv("OMNIGATE_KEY"), "API key (default $OMNIGATE_KEY)")
	queue := fs.String("queue", "", "queue id (default: the key's default queue)")
	channel := fs.String("channel", "sms", "channel")
	to := fs.String("to", "", "recipient")
	text := fs.String("text", "", "message text")
	country := fs.String("country", "", "country for numbers without a country code")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if *key == "" || *to == "" || *text == "" {
		return usageError("send needs --key (or $OMNIGATE_KEY), --to and --text")
	}
	body, _ := json.Marshal(map[string]any{"queue": *queue, "channel": *channel, "to": *to, "text": *text, "country": *country})
	req, err := http.NewRequest(http.MethodPost, strings.TrimRight(*url, "/")+"/v1/messages", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+*key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var pretty bytes.Buffer
	if json.Indent(&pretty, b, "", "  ") == nil {
		b = pretty.Bytes()
	}
	fmt.Fprintln(out, string(b))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("the daemon answered %s", resp.Status)
	}
	return nil
}
