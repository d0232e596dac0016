package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	twclient "github.com/twilio/twilio-go/client"
)

// The table mode runs every figure of BENCHMARKS.md in one command. For each row it
// starts fresh daemons (the binary --omnigate with --config, the BENCH_* variables set
// for the row), drives them for --duration, stops them and records the figure next to
// its target and the machine's load average. The fake carriers and the platform-event
// receiver are served by this process for the whole run.

// Ports of the table run, all on 127.0.0.1.
const (
	tablePortDaemon  = 8080 // first daemon; the others follow
	tablePortTwilio  = 9101
	tablePortOpen    = 9102
	tablePortEvents  = 9103
	tablePortCeiling = 8090
	tablePortDebug   = 6061 // first daemon's pprof listener with --profile-dir
	benchTwilioToken = "benchtoken0123456789abcdef012345"
	benchPublicURL   = "http://127.0.0.1:8080"
	clockTicks       = 100 // USER_HZ: /proc/PID/stat times are in 1/100 s on Linux
)

// tableRows are the rows in order; --rows picks some of them.
var tableRows = []string{
	"webhook-sqlite", "ceiling", "e2e-sqlite", "e2e-sqlite-events", "e2e-sqlite-events-batched", "latency-sqlite",
	"webhook-pg", "e2e-pg", "e2e-pg-3",
}

// line is one printed row of the table.
type line struct {
	row, figure, measured, target, verdict, load string
}

type tableRun struct {
	o       options
	fk      *fakes
	workdir string
	lines   []line
	// RSS of every SQLite daemon right after it was ready, and the peak under load.
	rssIdle, rssPeak int64
	pgOne            float64 // e2e-pg figure, for e2e-pg-3's comparison
	ceilingRate      float64
	webhookRate      float64
}

func table(o options) error {
	if o.binary == "" {
		return errors.New("table: --omnigate (the daemon binary) is required")
	}
	if o.duration <= 0 {
		o.duration = 10 * time.Second
	}
	o.quiet = true
	want := map[string]bool{}
	for r := range strings.SplitSeq(o.rows, ",") {
		if r = strings.TrimSpace(r); r != "" {
			if !contains(tableRows, r) {
				return fmt.Errorf("table: unknown row %q (rows: %s)", r, strings.Join(tableRows, ", "))
			}
			want[r] = true
		}
	}
	if o.workdir == "" {
		d, err := os.MkdirTemp("", "omnigate-bench-")
		if err != nil {
			return err
		}
		o.workdir = d
	}
	if err := os.MkdirAll(o.workdir, 0o755); err != nil {
		return err
	}
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fk := &fakes{arrivals: map[string]time.Time{}}
	ports := func(p int) string { return ":" + strconv.Itoa(p) }
	fo := o
	fo.fakeTwilio, fo.fakeOpen, fo.fakeEvents = ports(tablePortTwilio), ports(tablePortOpen), ports(tablePortEvents)
	stop, err := fk.serve(fo)
	if err != nil {
		return err
	}
	defer stop()
	t := &tableRun{o: o, fk: fk, workdir: o.workdir}
	fmt.Printf("omnigate-load table: %s per row, %d connections, workdir %s\n", o.duration, o.c, o.workdir)
	for _, row := range tableRows {
		if len(want) > 0 && !want[row] {
			continue
		}
		if strings.Contains(row, "pg") && o.pg == "" {
			t.add(line{row: row, figure: row, measured: "skipped (no --pg)"})
			continue
		}
		load := loadAvg()
		fmt.Printf("== %s (load average %s)\n", row, load)
		var err error
		switch row {
		case "webhook-sqlite":
			err = t.webhookRow(row, "sqlite", load)
		case "ceiling":
			err = t.ceilingRow(self, load)
		case "e2e-sqlite":
			err = t.e2eRow(row, "sqlite", eventsOff, 1, load)
		case "e2e-sqlite-events":
			err = t.e2eRow(row, "sqlite", eventsOn, 1, load)
		case "e2e-sqlite-events-batched":
			err = t.e2eRow(row, "sqlite", eventsBatched, 1, load)
		case "latency-sqlite":
			err = t.latencyRow(load)
		case "webhook-pg":
			err = t.webhookRow(row, "pg", load)
		case "e2e-pg":
			err = t.e2eRow(row, "pg", eventsOn, 1, load)
		case "e2e-pg-3":
			err = t.e2eRow(row, "pg", eventsOn, 3, load)
		}
		if err != nil {
			t.add(line{row: row, figure: row, measured: "error: " + err.Error(), load: load})
			fmt.Printf("   error: %v\n", err)
		}
	}
	if t.rssIdle > 0 {
		t.add(line{row: "rss", figure: "RSS idle / peak under load (SQLite daemons)",
			measured: fmt.Sprintf("%.1f / %.1f MB", mb(t.rssIdle), mb(t.rssPeak)), target: "≤ 40 / ≤ 150 MB",
			verdict: verdict(mb(t.rssIdle) <= 40 && mb(t.rssPeak) <= 150), load: loadAvg()})
	}
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "row\tfigure\tmeasured\ttarget\tmet\tload avg (1/5/15 min)")
	for _, l := range t.lines {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", l.row, l.figure, l.measured, l.target, l.verdict, l.load)
	}
	return tw.Flush()
}

func (t *tableRun) add(l line) {
	t.lines = append(t.lines, l)
	fmt.Printf("   %s: %s  (target %s) %s\n", l.figure, l.measured, l.target, l.verdict)
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func verdict(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

func mb(kb int64) float64 { return float64(kb) / 1024 }

// loadAvg is /proc/loadavg's three averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// eventsSetting is a row's platform events, which picks its configuration.
type eventsSetting int

const (
	eventsOff     eventsSetting = iota // --config
	eventsOn                           // --config-events: each event posted alone
	eventsBatched                      // --config-events-batched: events.batch above 1
)

func (t *tableRun) configFor(ev eventsSetting) string {
	switch ev {
	case eventsOn:
		return t.o.configEvents
	case eventsBatched:
		return t.o.configEventsBatched
	}
	return t.o.config
}

// daemon is one omnigate serve process started for a row.
type daemon struct {
	cmd  *exec.Cmd
	base string
	log  string
	done chan struct{}
}

// startDaemons starts n daemons on one store (each waits for the previous to be ready,
// so only the first migrates) and returns them ready.
func (t *tableRun) startDaemons(row, storeDSN string, ev eventsSetting, n int) ([]*daemon, error) {
	var ds []*daemon
	for i := range n {
		port := tablePortDaemon + i
		listen := "127.0.0.1:" + strconv.Itoa(port)
		logPath := filepath.Join(t.workdir, fmt.Sprintf("%s-%d.log", row, i))
		logf, err := os.Create(logPath)
		if err != nil {
			stopDaemons(ds)
			return nil, err
		}
		cmd := exec.Command(t.o.binary, "serve", "--config", t.configFor(ev))
		env := append(os.Environ(), "BENCH_LISTEN="+listen, "BENCH_STORE="+storeDSN)
		if t.o.profileDir != "" && i == 0 {
			env = append(env, "OMNIGATE_DEBUG_LISTEN=127.0.0.1:"+strconv.Itoa(tablePortDebug))
		}
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			stopDaemons(ds)
			return nil, err
		}
		d := &daemon{cmd: cmd, base: "http://" + listen, log: logPath, done: make(chan struct{})}
		go func() { cmd.Wait(); logf.Close(); close(d.done) }()
		ds = append(ds, d)
		if err := d.waitReady(30 * time.Second); err != nil {
			stopDaemons(ds)
			return nil, fmt.Errorf("%w (log: %s)", err, logPath)
		}
	}
	return ds, nil
}

func (d *daemon) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-d.done:
			return errors.New("the daemon exited at start")
		default:
		}
		resp, err := http.Get(d.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("the daemon was not ready in time")
}

// stopDaemons sends SIGTERM to every daemon and waits for it (SIGKILL after 20s).
func stopDaemons(ds []*daemon) {
	for _, d := range ds {
		d.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, d := range ds {
		select {
		case <-d.done:
		case <-time.After(20 * time.Second):
			d.cmd.Process.Kill()
			<-d.done
		}
	}
}

// procCPU is a process's user+system CPU time from /proc/PID/stat.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	// The command name is in parentheses and may hold spaces: fields start after it.
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14 of stat
	st, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	return time.Duration(ut+st) * time.Second / clockTicks
}

// machineCPU is the busy CPU time of the whole machine from /proc/stat.
func machineCPU() time.Duration {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0
	}
	fs := strings.Fields(sc.Text()) // cpu user nice system idle iowait irq softirq steal ...
	var busy int64
	for i, v := range fs[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest times are already in user
			break
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * time.Second / clockTicks
}

// procRSS is VmRSS in kB.
func procRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// sampler follows the daemons' RSS every 200 ms and their CPU from start to stop.
type sampler struct {
	ds        []*daemon
	stop      chan struct{}
	wg        sync.WaitGroup
	peak      int64
	cpu0, cpu time.Duration
	m0, m     time.Duration
}

func sample(ds []*daemon) *sampler {
	s := &sampler{ds: ds, stop: make(chan struct{})}
	for _, d := range ds {
		s.cpu0 += procCPU(d.cmd.Process.Pid)
	}
	s.m0 = machineCPU()
	s.wg.Go(func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, d := range ds {
				s.peak = max(s.peak, procRSS(d.cmd.Process.Pid))
			}
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	})
	return s
}

func (s *sampler) finish() {
	close(s.stop)
	s.wg.Wait()
	for _, d := range s.ds {
		s.cpu += procCPU(d.cmd.Process.Pid)
	}
	s.cpu -= s.cpu0
	s.m = machineCPU() - s.m0
}

// storeFor returns a fresh store DSN for a row.
func (t *tableRun) storeFor(row, kind string) (string, error) {
	if kind == "sqlite" {
		path := filepath.Join(t.workdir, row+".db")
		for _, suffix := range []string{"", "-wal", "-shm", ".lock"} {
			os.Remove(path + suffix)
		}
		return "sqlite://" + path, nil
	}
	return t.o.pg, recreateDatabase(t.o.pg)
}

// recreateDatabase drops and creates the database named in dsn, connected to the
// server's "postgres" database.
func recreateDatabase(dsn string) error {
	u, err := url.Parse(dsn)
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" || name == "postgres" || strings.ContainsAny(name, `"/`) {
		return fmt.Errorf("--pg: name a database the tool may drop and re-create, not %q", name)
	}
	admin := *u
	admin.Path = "/postgres"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+ident)
	return err
}

// profile fetches the first daemon's CPU profile for d while the load runs, and the
// allocation profile once it is done; the returned function waits and writes them.
func (t *tableRun) profile(row string, d time.Duration) func() {
	if t.o.profileDir == "" {
		return func() {}
	}
	base := "http://127.0.0.1:" + strconv.Itoa(tablePortDebug) + "/debug/pprof/"
	fetch := func(path, file string) {
		resp, err := (&http.Client{Timeout: d + time.Minute}).Get(base + path)
		if err != nil {
			fmt.Printf("   profile %s: %v\n", path, err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(t.o.profileDir, file))
		if err != nil {
			return
		}
		io.Copy(f, resp.Body)
		f.Close()
	}
	var wg sync.WaitGroup
	wg.Go(func() { fetch("profile?seconds="+strconv.Itoa(max(1, int(d.Seconds()))), row+".cpu.pprof") })
	return func() {
		wg.Wait()
		fetch("allocs", row+".allocs.pprof")
	}
}

func (t *tableRun) runOptions(targets []*daemon) options {
	o := t.o
	o.target = targets[0].base
	o.twilioToken, o.publicURL = benchTwilioToken, benchPublicURL
	o.timeout = o.duration + 5*time.Minute
	return o
}

func (t *tableRun) webhookRow(row, kind, load string) error {
	dsn, err := t.storeFor(row, kind)
	if err != nil {
		return err
	}
	ds, err := t.startDaemons(row, dsn, eventsOff, 1)
	if err != nil {
		return err
	}
	defer stopDaemons(ds)
	t.noteIdle(kind, ds)
	o := t.runOptions(ds)
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	s := sample(ds)
	prof := t.profile(row, o.duration)
	r, err := webhook(ctx, o, newClient(o.c))
	prof()
	s.finish()
	t.notePeak(kind, s)
	if err != nil {
		return err
	}
	p99 := r.lat.quantile(0.99)
	fig := "signed Twilio webhook ingest, durable, " + strconv.Itoa(o.c) + " connections, " + storeName(kind)
	target, ok := "—", true
	if kind == "sqlite" {
		target, ok = "≥ 10,000/s, p99 ≤ 25 ms", r.rate >= 10000 && p99 <= 25*time.Millisecond
		t.webhookRate = r.rate
	}
	t.add(line{row: row, figure: fig, measured: fmt.Sprintf("%.0f/s, p99 %s, status %s, daemon CPU %.0f µs/req",
		r.rate, fmtMS(p99), r.codes, s.cpu.Seconds()/float64(r.requests)*1e6), target: target, verdict: verdictIf(kind == "sqlite", ok), load: load})
	if t.ceilingRate > 0 && kind == "sqlite" {
		t.addRatio(load)
	}
	return nil
}

func verdictIf(judged, ok bool) string {
	if !judged {
		return "—"
	}
	return verdict(ok)
}

func storeName(kind string) string {
	if kind == "pg" {
		return "PostgreSQL"
	}
	return "SQLite"
}

func fmtMS(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + " ms" }

func (t *tableRun) addRatio(load string) {
	ratio := t.webhookRate / t.ceilingRate
	t.add(line{row: "ratio", figure: "webhook ingest (SQLite) / no-store ceiling", measured: fmt.Sprintf("%.0f%%", ratio*100),
		target: "≥ 40%", verdict: verdict(ratio >= 0.4), load: load})
}

func (t *tableRun) noteIdle(kind string, ds []*daemon) {
	if kind != "sqlite" {
		return
	}
	time.Sleep(500 * time.Millisecond) // let start-up garbage go
	for _, d := range ds {
		t.rssIdle = max(t.rssIdle, procRSS(d.cmd.Process.Pid))
	}
}

func (t *tableRun) notePeak(kind string, s *sampler) {
	if kind == "sqlite" {
		t.rssPeak = max(t.rssPeak, s.peak)
	}
}

// ceilingRow starts this binary in ceiling mode and drives it like the webhook row.
func (t *tableRun) ceilingRow(self, load string) error {
	listen := "127.0.0.1:" + strconv.Itoa(tablePortCeiling)
	cmd := exec.Command(self, "--mode", "ceiling", "--listen", listen, "--twilio-token", benchTwilioToken, "--public-url", benchPublicURL)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	d := &daemon{cmd: cmd, base: "http://" + listen, done: make(chan struct{})}
	go func() { cmd.Wait(); close(d.done) }()
	defer stopDaemons([]*daemon{d})
	if err := d.waitReady(10 * time.Second); err != nil {
		return err
	}
	o := t.runOptions([]*daemon{d})
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	r, err := webhook(ctx, o, newClient(o.c))
	if err != nil {
		return err
	}
	t.ceilingRate = r.rate
	t.add(line{row: "ceiling", figure: "no-store ceiling: parse the form, check the signature, answer", measured: fmt.Sprintf("%.0f/s, p99 %s, status %s",
		r.rate, fmtMS(r.lat.quantile(0.99)), r.codes), target: "(the reference)", verdict: "—", load: load})
	if t.webhookRate > 0 {
		t.addRatio(load)
	}
	return nil
}

func (t *tableRun) e2eRow(row, kind string, evs eventsSetting, instances int, load string) error {
	events := evs != eventsOff
	dsn, err := t.storeFor(row, kind)
	if err != nil {
		return err
	}
	ds, err := t.startDaemons(row, dsn, evs, instances)
	if err != nil {
		return err
	}
	defer stopDaemons(ds)
	t.noteIdle(kind, ds)
	o := t.runOptions(ds)
	var targets []string
	for _, d := range ds {
		targets = append(targets, d.base)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	ev0, posts0 := t.fk.events.Load(), t.fk.posts.Load()
	s := sample(ds)
	prof := t.profile(row, o.duration)
	r, err := send(ctx, o, newClient(o.c), t.fk, targets)
	// Each send to a new recipient produces two platform events (the conversation
	// opened, the message sent). The row's CPU and its second rate count until the
	// receiver has them all: they trail the messages, on the same relay.
	var evDone time.Duration
	if err == nil && !r.timedOut && events {
		want := ev0 + 2*int64(r.accepted)
		for t.fk.events.Load() < want && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("timed out: the receiver got %d of %d platform events", t.fk.events.Load()-ev0, want-ev0)
		}
		evDone = time.Since(r.start)
	}
	prof()
	s.finish()
	t.notePeak(kind, s)
	if err != nil {
		return err
	}
	if r.timedOut {
		return fmt.Errorf("timed out: the carrier saw %d of %d", r.carrier, r.accepted)
	}
	ev := "off"
	switch evs {
	case eventsOn:
		ev = "on"
	case eventsBatched:
		ev = "on, batched"
	}
	fig := fmt.Sprintf("end to end (accept → carrier → sent), %s, events %s", storeName(kind), ev)
	if instances > 1 {
		fig = fmt.Sprintf("end to end, %d instances on one %s database, events %s", instances, storeName(kind), ev)
	}
	perMsg := s.cpu.Seconds() / float64(r.accepted)
	measured := fmt.Sprintf("%.0f msg/s (accept %.0f/s, p99 %s); daemon CPU %.0f µs/msg, machine CPU %.0f µs/msg",
		r.e2e, r.rate, fmtMS(r.lat.quantile(0.99)), perMsg*1e6, s.m.Seconds()/float64(r.accepted)*1e6)
	if events {
		measured += fmt.Sprintf("; %d platform events received in %d posts, the last at +%.1f s: %.0f msg/s with every event delivered",
			t.fk.events.Load()-ev0, t.fk.posts.Load()-posts0, evDone.Seconds(), float64(r.accepted)/evDone.Seconds())
	}
	if r.firstFail != "" {
		measured += "; first refusal: " + r.firstFail
	}
	var target string
	var judged, ok bool
	switch {
	case kind == "sqlite" && evs == eventsBatched:
		target, judged, ok = "≥ 5,000 msg/s (events on, batched)", true, r.e2e >= 5000
	case kind == "sqlite" && events:
		target, judged, ok = "≥ 5,000 msg/s (events on)", true, r.e2e >= 5000
	case kind == "sqlite":
		target = "(events on is the target row)"
	case instances == 1:
		target, judged, ok = "≥ 3,000 msg/s", true, r.e2e >= 3000
		t.pgOne = r.e2e
	default:
		target, judged = "more than one instance", t.pgOne > 0
		ok = r.e2e > t.pgOne
		if t.pgOne > 0 {
			measured += fmt.Sprintf("; %.2f× one instance", r.e2e/t.pgOne)
		}
		measured += fmt.Sprintf("; projected on C cores at this cost: %.0f×C msg/s (daemon CPU only)", 1/perMsg)
	}
	t.add(line{row: row, figure: fig, measured: measured, target: target, verdict: verdictIf(judged, ok), load: load})
	return nil
}

func (t *tableRun) latencyRow(load string) error {
	row := "latency-sqlite"
	dsn, err := t.storeFor(row, "sqlite")
	if err != nil {
		return err
	}
	ds, err := t.startDaemons(row, dsn, eventsOn, 1)
	if err != nil {
		return err
	}
	defer stopDaemons(ds)
	t.noteIdle("sqlite", ds)
	o := t.runOptions(ds)
	o.rate = o.ratePerSec
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	s := sample(ds)
	r, err := send(ctx, o, newClient(o.c), t.fk, nil)
	s.finish()
	t.notePeak("sqlite", s)
	if err != nil {
		return err
	}
	p99 := r.lat.quantile(0.99)
	t.add(line{row: row, figure: fmt.Sprintf("API accept p99 at a fixed %.0f msg/s, SQLite, events on", o.rate),
		measured: fmt.Sprintf("p50 %s, p99 %s (offered %.0f/s, delivered %.0f msg/s)", fmtMS(r.lat.quantile(0.5)), fmtMS(p99), r.rate, r.e2e),
		target:   "p99 ≤ 20 ms", verdict: verdict(p99 <= 20*time.Millisecond), load: load})
	return nil
}

// ceiling serves the no-store ceiling: POST /webhooks/twilio parses the form, checks
// X-Twilio-Signature with twilio-go's validator (as the daemon does) and answers with
// the empty TwiML the daemon answers with. GET /readyz answers 200.
func ceiling(listen, token, publicURL string) error {
	if token == "" || publicURL == "" {
		return errors.New("ceiling: --twilio-token and --public-url are required")
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return errors.New("ceiling: --listen must be a loopback address")
	}
	v := twclient.NewRequestValidator(token)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("POST /webhooks/twilio", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		params := make(map[string]string, len(r.PostForm))
		for k, vs := range r.PostForm {
			params[k] = vs[0]
		}
		if !v.Validate(publicURL+r.URL.RequestURI(), params, r.Header.Get("X-Twilio-Signature")) {
			http.Error(w, "bad signature", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`)
	})
	srv := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}
