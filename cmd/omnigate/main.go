// Command omnigate is the omnigate daemon and its operator commands:
//
//	omnigate serve                       run the daemon
//	omnigate migrate                     bring the store's schema up to date
//	omnigate policy check [FILE]         validate a policy file and summarise its rules
//	omnigate outbox ls [--status S]      list pending and dead outbox entries
//	omnigate outbox retry ID             replay a dead letter
//	omnigate send --to ... --text ...    send one message through a running daemon
//	omnigate version
//
// Every command finds its configuration the same way: --config FILE, else
// $OMNIGATE_CONFIG, else ./omnigate.yaml. Flags may come before or after the
// arguments. Exit status: 0 on success (and for --help), 1 when the command failed, 2
// when it was called wrongly.
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

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/config"
	"github.com/omnigate/omnigate/policy"
	"github.com/omnigate/omnigate/store"
	"github.com/omnigate/omnigate/store/sqlstore"
)

const usage = `usage: omnigate <command> [arguments] [flags]

commands:
  serve                  run the daemon
  migrate                bring the store's schema up to date
  policy check [FILE]    validate a policy file and print its effective rules
  outbox ls              list pending and dead outbox entries, with a summary
  outbox retry ID        replay a dead letter
  send                   send one message through a running daemon
  version                print the version

Every command reads its configuration from --config FILE, else $OMNIGATE_CONFIG, else
./omnigate.yaml. Flags may come before or after the arguments.
Run "omnigate <command> --help" for a command's flags and an example.

example:
  export OMNIGATE_CONFIG=examples/omnigate.yaml
  omnigate serve
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is a command called wrongly: exit status 2, with the command's usage.
type usageError struct {
	msg  string
	help string // the command's usage; empty for the general one
}

func (e usageError) Error() string { return e.msg }

// run runs one command line and returns the process's exit status.
func run(args []string, stdout, stderr io.Writer) int {
	err := dispatch(args, stdout)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0 // the help was printed to stdout
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "omnigate:", ue.msg)
		if ue.help == "" {
			ue.help = usage
		}
		fmt.Fprint(stderr, "\n", ue.help)
		return 2
	default:
		fmt.Fprintln(stderr, "omnigate:", err)
		return 1
	}
}

// command is one subcommand: its flags, its usage text and what it does.
type command struct {
	name    string // "outbox ls"
	args    string // positional arguments in the usage line
	summary string
	example string
	out     io.Writer
	fs      *flag.FlagSet
	config  *string
}

func newCommand(name, args, summary, example string, out io.Writer) *command {
	c := &command{name: name, args: args, summary: summary, example: example, out: out,
		fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	c.fs.SetOutput(io.Discard)
	c.config = c.fs.String("config", "", "configuration file (default $OMNIGATE_CONFIG, else ./omnigate.yaml)")
	return c
}

// help is the command's usage text: usage line, summary, flags, example.
func (c *command) help() string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: omnigate %s", c.name)
	if c.args != "" {
		b.WriteString(" " + c.args)
	}
	fmt.Fprintf(&b, " [flags]\n\n%s\n\nflags:\n", c.summary)
	c.fs.SetOutput(&b)
	c.fs.PrintDefaults()
	c.fs.SetOutput(io.Discard)
	fmt.Fprintf(&b, "\nexample:\n%s\n", c.example)
	return b.String()
}

// usageErr is a usage error that shows this command's help.
func (c *command) usageErr(format string, a ...any) error {
	return usageError{msg: fmt.Sprintf(format, a...), help: c.help()}
}

// parse parses flags anywhere among the arguments ("outbox retry 5 --config x.yaml"
// means what "outbox retry --config x.yaml 5" means); everything after "--" is an
// argument. It checks the number of arguments against min and max (max < 0: any).
// --help prints the help to stdout and returns flag.ErrHelp.
func (c *command) parse(args []string, min, max int) ([]string, error) {
	var pos []string
	for {
		if err := c.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(c.out, c.help())
				return nil, err
			}
			return nil, c.usageErr("%v", err)
		}
		rest := c.fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	switch {
	case len(pos) < min:
		return nil, c.usageErr("%s: missing arguments", c.name)
	case max >= 0 && len(pos) > max:
		return nil, c.usageErr("%s: unexpected argument %q", c.name, pos[max])
	}
	return pos, nil
}

// configPath is --config, else the default every command shares.
func (c *command) configPath() string {
	if *c.config != "" {
		return *c.config
	}
	return config.DefaultPath()
}

// loadConfig loads the configuration, saying where it looked when there is none.
func (c *command) loadConfig() (*config.Config, error) {
	path := c.configPath()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && *c.config == "" {
		return nil, fmt.Errorf("no configuration file at %s: pass --config FILE or set OMNIGATE_CONFIG "+
			"(the sandbox's is examples/omnigate.yaml)", path)
	}
	return config.Load(path)
}

func dispatch(args []string, out io.Writer) error {
	if len(args) == 0 {
		return usageError{msg: "no command"}
	}
	name, rest := args[0], args[1:]
	switch name {
	case "serve":
		c := newCommand("serve", "", "Run the daemon: the API, the carriers' webhooks and the delivery relay.",
			"  omnigate serve --config examples/omnigate.yaml", out)
		if _, err := c.parse(rest, 0, 0); err != nil {
			return err
		}
		cfg, err := c.loadConfig()
		if err != nil {
			return err
		}
		return serve(cfg)
	case "migrate":
		return migrateCmd(rest, out)
	case "policy":
		if len(rest) == 0 || rest[0] != "check" {
			if len(rest) > 0 && isHelp(rest[0]) {
				fmt.Fprint(out, policyCheck(out).help())
				return flag.ErrHelp
			}
			return usageError{msg: "policy: the only subcommand is check", help: policyCheck(out).help()}
		}
		return policyCmd(rest[1:], out)
	case "outbox":
		if len(rest) > 0 {
			switch rest[0] {
			case "ls":
				return outboxLs(rest[1:], out)
			case "retry":
				return outboxRetry(rest[1:], out)
			}
		}
		help := outboxLsCommand(out).help() + "\n" + outboxRetryCommand(out).help()
		if len(rest) > 0 && isHelp(rest[0]) {
			fmt.Fprint(out, help)
			return flag.ErrHelp
		}
		return usageError{msg: "outbox: use ls or retry", help: help}
	case "send":
		return sendCmd(rest, out)
	case "version":
		c := newCommand("version", "", "Print the version, as carriers see it in the User-Agent (omnigate/MAJOR.MINOR.PATCH).",
			"  omnigate version", out)
		if _, err := c.parse(rest, 0, 0); err != nil {
			return err
		}
		// The same string every carrier call carries as its User-Agent.
		fmt.Fprintln(out, omnigate.UserAgent())
		return nil
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 {
			return dispatch([]string{rest[0], "--help"}, out)
		}
		fmt.Fprint(out, usage)
		return flag.ErrHelp
	}
	return usageError{msg: "unknown command " + strconv.Quote(name)}
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

func migrateCmd(args []string, out io.Writer) error {
	c := newCommand("migrate", "", "Bring the store's schema up to date (serve does it too at start).",
		"  omnigate migrate --config /etc/omnigate/omnigate.yaml", out)
	if _, err := c.parse(args, 0, 0); err != nil {
		return err
	}
	cfg, err := c.loadConfig()
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
}

func policyCheck(out io.Writer) *command {
	return newCommand("policy check", "[FILE]",
		"Validate a policy file and print its effective rules. Without FILE, the configuration's policy_file.",
		"  omnigate policy check examples/policy.yaml", out)
}

func policyCmd(args []string, out io.Writer) error {
	c := policyCheck(out)
	pos, err := c.parse(args, 0, 1)
	if err != nil {
		return err
	}
	var path string
	if len(pos) == 1 {
		path = pos[0]
	} else {
		cfg, err := c.loadConfig()
		if err != nil {
			return err
		}
		if cfg.PolicyFile == "" {
			return fmt.Errorf("%s has no policy_file: the built-in policy is in use", cfg.Path)
		}
		path = cfg.PolicyFile
	}
	p, err := policy.Load(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: ok\n%s", path, p.Summary())
	return nil
}

func openStore(c *command) (*sqlstore.DB, error) {
	cfg, err := c.loadConfig()
	if err != nil {
		return nil, err
	}
	return sqlstore.OpenNoMigrate(context.Background(), cfg.Store, sqlstore.Options{Dir: cfg.Dir})
}

func outboxLsCommand(out io.Writer) *command {
	return newCommand("outbox ls", "",
		"List outbox entries, oldest first: those waiting for delivery (pending) and the dead letters,\n"+
			"then a summary line with the totals.",
		"  omnigate outbox ls\n  omnigate outbox ls --status dead --config /etc/omnigate/omnigate.yaml", out)
}

func outboxLs(args []string, out io.Writer) error {
	c := outboxLsCommand(out)
	status := c.fs.String("status", "all", "pending, dead or all")
	limit := c.fs.Int("limit", 100, "most entries listed per status (0: no limit)")
	if _, err := c.parse(args, 0, 0); err != nil {
		return err
	}
	var statuses []string
	switch *status {
	case "all":
		statuses = []string{store.OutboxPending, store.OutboxDead}
	case store.OutboxPending, store.OutboxDead:
		statuses = []string{*status}
	default:
		return c.usageErr("--status %q: want pending, dead or all", *status)
	}
	if *limit < 0 {
		return c.usageErr("--limit %d: want 0 or more", *limit)
	}
	db, err := openStore(c)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tSTATUS\tMESSAGE\tATTEMPTS\tDUE\tLAST ERROR")
	shown, truncated := 0, false
	for _, st := range statuses {
		var after int64
		n := 0
		for *limit == 0 || n < *limit {
			page := 500
			if *limit > 0 {
				page = min(page, *limit-n)
			}
			rows, err := db.Outbox(ctx, st, after, page)
			if err != nil {
				return err
			}
			for _, r := range rows {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.Kind, r.Status, r.MessageID, r.Attempts,
					r.DueAt.Format(time.RFC3339), r.LastError)
				after = r.ID
			}
			n += len(rows)
			if len(rows) < page {
				break
			}
		}
		shown += n
		truncated = truncated || (*limit > 0 && n == *limit)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	stats, err := db.OutboxStats(ctx, time.Now())
	if err != nil {
		return err
	}
	total := 0
	for _, st := range statuses {
		total += map[string]int{store.OutboxPending: stats.Pending, store.OutboxDead: stats.Dead}[st]
	}
	summary := fmt.Sprintf("%d pending, %d dead", stats.Pending, stats.Dead)
	if age := stats.OldestDueAge.Round(time.Second); age > 0 {
		summary += fmt.Sprintf("; the oldest due entry has waited %s", age)
	}
	// Only a list cut by --limit says so: rows may come and go between the list and the
	// count while a daemon runs.
	if truncated && shown < total {
		summary = fmt.Sprintf("showing %d of %d; %s (raise --limit to see more)", shown, total, summary)
	}
	fmt.Fprintln(out, summary)
	return nil
}

func outboxRetryCommand(out io.Writer) *command {
	return newCommand("outbox retry", "ID", "Replay a dead letter: it becomes pending, due now, with its attempts reset.",
		"  omnigate outbox retry 42", out)
}

func outboxRetry(args []string, out io.Writer) error {
	c := outboxRetryCommand(out)
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return c.usageErr("ID %q: want the number in the ID column of outbox ls", pos[0])
	}
	db, err := openStore(c)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.RetryDead(context.Background(), id, time.Now().UTC()); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no dead letter %d", id)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(out, "dead letter %d queued for delivery\n", id)
	return nil
}

// sendCmd posts one message to a running daemon's API.
func sendCmd(args []string, out io.Writer) error {
	c := newCommand("send", "", "Send one message through a running daemon's API, on behalf of a queue.\n"+
		"The daemon is found at --url, else on the configuration's listen address.",
		"  OMNIGATE_KEY=ann-demo-key omnigate send --to +14155550100 --text 'Your order shipped. Any questions?'", out)
	url := c.fs.String("url", "", "the daemon's base URL (default: from the configuration's listen, else http://127.0.0.1:8080)")
	key := c.fs.String("key", "", "API key (default $OMNIGATE_KEY)")
	queue := c.fs.String("queue", "", "queue id (default: the key's default queue)")
	channel := c.fs.String("channel", "sms", "channel: sms, whatsapp, messenger, instagram, x or open")
	to := c.fs.String("to", "", "recipient")
	text := c.fs.String("text", "", "message text")
	country := c.fs.String("country", "", "country for numbers without a country code")
	if _, err := c.parse(args, 0, 0); err != nil {
		return err
	}
	if *key == "" {
		*key = os.Getenv("OMNIGATE_KEY")
	}
	if *key == "" || *to == "" || *text == "" {
		return c.usageErr("send needs --key (or $OMNIGATE_KEY), --to and --text")
	}
	if *url == "" {
		*url = "http://127.0.0.1:8080"
		if _, err := os.Stat(c.configPath()); err == nil || *c.config != "" {
			cfg, err := c.loadConfig()
			if err != nil {
				return err
			}
			*url = cfg.LocalURL()
		}
	}
	body, _ := json.Marshal(map[string]any{"queue": *queue, "channel": *channel, "to": *to, "text": *text, "country": *country})
	req, err := http.NewRequest(http.MethodPost, strings.TrimRight(*url, "/")+"/v1/messages", bytes.NewReader(body))
	if err != nil {
		return c.usageErr("--url: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+*key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", omnigate.UserAgent())
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
