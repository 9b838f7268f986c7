package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged-gateway/edged/internal/mosquittotest"
	"github.com/edged-gateway/edged/reading"
)

// cli runs the edged command line in-process.
func cli(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// dlListDoc is GET /api/v1/deadletters as the CLI prints it.
type dlListDoc struct {
	DeadLetters []dlDoc `json:"dead_letters"`
	Next        uint64  `json:"next"`
	Count       int     `json:"count"`
}

type dlDoc struct {
	ID             uint64    `json:"id"`
	Route          string    `json:"route"`
	Reason         string    `json:"reason"`
	Attempts       int       `json:"attempts"`
	DeadLetteredAt time.Time `json:"dead_lettered_at"`
	Reading        struct {
		Device string  `json:"device"`
		Metric string  `json:"metric"`
		Value  float64 `json:"value"`
		Unit   string  `json:"unit"`
		Seq    uint64  `json:"seq"`
		Source string  `json:"source"`
	} `json:"reading"`
}

type dlResultDoc struct {
	Replayed []struct {
		ID             uint64 `json:"id"`
		OriginalSeq    uint64 `json:"original_seq"`
		Seq            uint64 `json:"seq"`
		MaybeDuplicate bool   `json:"maybe_duplicate"`
	} `json:"replayed"`
	Dropped  []uint64 `json:"dropped"`
	NotFound []uint64 `json:"not_found"`
	Error    string   `json:"error"`
}

func decodeOut(t *testing.T, what, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("%s: output is not the JSON expected: %v\n%s", what, err, out)
	}
}

// TestDeadLettersReplayAfterLimitRaised is the poison case of issue 16 to
// its end: two readings too large for the cloud mosquitto's
// max_packet_size go to the dead letters while the rest flows; `edged
// deadletters list` and `show` show them; the API refuses replay and drop
// without the token; one is dropped; the cloud broker is restarted on
// the same port with a larger max_packet_size, `edged deadletters replay
// --all` puts the other back in the outbox with a new seq, and the cloud
// receives it, device, metric, value, unit and source intact.
func TestDeadLettersReplayAfterLimitRaised(t *testing.T) {
	cloudBroker := mosquittotest.Start(t, mosquittotest.WithConfig("max_packet_size 3000"))
	dir := t.TempDir()
	cl := newCloud(t, cloudBroker.Addr(), "edged", "gw-replay")
	d, stopDaemon := startDaemon(t, writeConfig(t, dir, fmt.Sprintf(`gateway: {id: gw-replay}
http: {listen: 127.0.0.1:0}
local_mqtt: {listen: 127.0.0.1:0}
data_dir: %s
cloud: {url: %s, batch: 8, max_attempts: 3}
devices:
  - {name: porch, kind: sim, interval: 20ms, options: {metric: temperature, unit: C, waveform: constant, min: 21}}
`, dir, cloudBroker.URL())))
	stop := sync.OnceValue(stopDaemon)
	defer stop()
	base := "http://" + d.api.Addr()
	tokenFile := filepath.Join(dir, tokenFileName)
	cl.waitFor("porch readings before the poison", func() bool { return len(cl.values["porch/temperature"]) >= 10 })

	keep := reading.Reading{Device: "porch", Metric: strings.Repeat("m", 1024), Value: 42.5, Time: time.Now(), Unit: strings.Repeat("u", 1024), Source: strings.Repeat("s", 1024)}
	drop := keep
	drop.Metric = strings.Repeat("n", 1024)
	poison := []reading.Reading{keep, drop}
	if err := d.sink.Append(context.Background(), poison); err != nil {
		t.Fatal(err)
	}
	keepSeq, dropSeq := poison[0].Seq, poison[1].Seq
	for deadline := time.Now().Add(5 * time.Minute); d.dead.Stats().Count != 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) { // hang guard: each refusal costs a reconnect with back-off
			t.Fatalf("timed out waiting for the two poison readings in the dead letters (%d there)", d.dead.Stats().Count)
		}
	}
	cl.waitFor("readings after the poison", func() bool { return cl.last["porch"] >= dropSeq+20 })
	cl.check()

	// list: both, oldest first, snake_case, paged.
	code, out, errOut := cli("deadletters", "list", "--api", base)
	if code != 0 {
		t.Fatalf("deadletters list: exit %d: %s", code, errOut)
	}
	var list dlListDoc
	decodeOut(t, "list", out, &list)
	if len(list.DeadLetters) != 2 || list.Count != 2 || list.Next != 0 {
		t.Fatalf("list: %+v, want 2 dead letters, count 2, no next page", list)
	}
	byMetric := map[string]dlDoc{}
	for _, e := range list.DeadLetters {
		byMetric[e.Reading.Metric[:1]] = e
		if e.Route != "cloud" || e.Attempts != 3 || e.Reason == "" || e.DeadLetteredAt.IsZero() || e.Reading.Device != "porch" || e.Reading.Unit != keep.Unit {
			t.Errorf("dead letter %d: route %q attempts %d reason %q at %v device %q; want cloud, 3, a reason, a time, porch", e.ID, e.Route, e.Attempts, e.Reason, e.DeadLetteredAt, e.Reading.Device)
		}
	}
	kept, dropped := byMetric["m"], byMetric["n"]
	if kept.Reading.Seq != keepSeq || dropped.Reading.Seq != dropSeq || kept.Reading.Value != 42.5 {
		t.Fatalf("list: seqs %d and %d, want %d and %d", kept.Reading.Seq, dropped.Reading.Seq, keepSeq, dropSeq)
	}
	code, out, _ = cli("deadletters", "list", "--api", base, "--limit", "1")
	decodeOut(t, "list --limit 1", out, &list)
	if code != 0 || len(list.DeadLetters) != 1 || list.Next != list.DeadLetters[0].ID {
		t.Fatalf("list --limit 1: exit %d, %+v; want one, and next = its id", code, list)
	}
	code, out, _ = cli("deadletters", "list", "--api", base, "--after", fmt.Sprint(list.Next))
	decodeOut(t, "list --after", out, &list)
	if code != 0 || len(list.DeadLetters) != 1 || list.Next != 0 {
		t.Fatalf("list --after: exit %d, %+v; want the other one, last page", code, list)
	}

	// show
	code, out, errOut = cli("deadletters", "show", "--api", base, fmt.Sprint(kept.ID))
	var one dlDoc
	if code != 0 {
		t.Fatalf("show: exit %d: %s", code, errOut)
	}
	decodeOut(t, "show", out, &one)
	if one.ID != kept.ID || one.Reading.Seq != keepSeq || one.Reading.Source != keep.Source {
		t.Fatalf("show %d: %+v", kept.ID, one)
	}
	if code, _, errOut = cli("deadletters", "show", "--api", base, "9999"); code != 1 || !strings.Contains(errOut, "no dead letter 9999") {
		t.Errorf("show 9999: exit %d, %q; want 1 and no dead letter 9999", code, errOut)
	}

	// Token rules: reads from loopback need none; replay and drop do.
	post := func(path, token, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, p := range []string{"/api/v1/deadletters/replay", "/api/v1/deadletters/drop"} {
		for _, tok := range []string{"", "wrong"} {
			if code, body := post(p, tok, `{"all":true}`); code != http.StatusUnauthorized {
				t.Errorf("POST %s with token %q: %d %s, want 401", p, tok, code, body)
			}
		}
	}
	if code, _, errOut = cli("deadletters", "drop", "--api", base, "--token-file", filepath.Join(dir, "nope"), "--all"); code != 1 || !strings.Contains(errOut, "token") {
		t.Errorf("drop without a token: exit %d %q, want 1 naming the token", code, errOut)
	}
	if n := d.dead.Stats().Count; n != 2 {
		t.Fatalf("after the refused requests %d dead letters, want 2", n)
	}
	raw, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(string(raw))
	for _, bad := range []string{`{}`, `{"ids":[1],"all":true}`, `{"ids":[0]}`, `{"idz":[1]}`, `{"all":true}{"all":true}`, `[`, `{"ids":[` + strings.Repeat("1,", 40000) + `1]}`} {
		if code, body := post("/api/v1/deadletters/drop", tok, bad); code != http.StatusBadRequest || !strings.Contains(body, "body") {
			t.Errorf("drop %.40s: %d %s, want 400 naming the body", bad, code, body)
		}
	}

	// drop one; dropping it again is a not-found (exit 1).
	code, out, errOut = cli("deadletters", "drop", "--api", base, "--token-file", tokenFile, fmt.Sprint(dropped.ID))
	var res dlResultDoc
	if code != 0 {
		t.Fatalf("drop: exit %d: %s", code, errOut)
	}
	decodeOut(t, "drop", out, &res)
	if fmt.Sprint(res.Dropped) != fmt.Sprintf("[%d]", dropped.ID) || d.dead.Stats().Count != 1 {
		t.Fatalf("drop: %+v, %d left", res, d.dead.Stats().Count)
	}
	code, out, errOut = cli("deadletters", "drop", "--api", base, "--token-file", tokenFile, fmt.Sprint(dropped.ID))
	decodeOut(t, "drop again", out, &res)
	if code != 1 || fmt.Sprint(res.NotFound) != fmt.Sprintf("[%d]", dropped.ID) || !strings.Contains(errOut, "404") {
		t.Fatalf("drop again: exit %d, %+v, %q; want 1 and not_found", code, res, errOut)
	}

	// Raise the limit, then replay.
	cloudBroker.Reconfigure(mosquittotest.WithConfig("max_packet_size 1000000"))
	cloudBroker.Restart()
	code, out, errOut = cli("deadletters", "replay", "--api", base, "--token-file", tokenFile, "--all")
	if code != 0 {
		t.Fatalf("replay --all: exit %d: %s\n%s", code, errOut, out)
	}
	decodeOut(t, "replay", out, &res)
	if len(res.Replayed) != 1 || res.Replayed[0].ID != kept.ID || res.Replayed[0].OriginalSeq != keepSeq || res.Replayed[0].Seq <= dropSeq || res.Replayed[0].MaybeDuplicate {
		t.Fatalf("replay: %+v; want dead letter %d, original seq %d, a new seq", res, kept.ID, keepSeq)
	}
	newSeq := res.Replayed[0].Seq
	if n := d.dead.Stats().Count; n != 0 {
		t.Errorf("%d dead letters after the replay, want 0", n)
	}
	key := "porch/" + keep.Metric
	cl.waitFor("the replayed reading at the cloud", func() bool { return cl.seen[newSeq] > 0 && len(cl.values[key]) > 0 })
	cl.mu.Lock()
	got := cl.values[key][0]
	neverOld := cl.seen[keepSeq] == 0
	cl.mu.Unlock()
	if got.value != 42.5 || got.unit != keep.Unit || got.source != keep.Source || !got.ts.Equal(keep.Time.Truncate(time.Millisecond)) && !got.ts.Equal(keep.Time) {
		t.Errorf("the cloud got %+v, want value 42.5, the unit, the source and the original time %v", got, keep.Time)
	}
	if !neverOld {
		t.Errorf("the cloud got the original seq %d too", keepSeq)
	}
	if code, out, _ = cli("deadletters", "list", "--api", base); code != 0 || !strings.Contains(out, `"dead_letters": []`) {
		t.Errorf("list after the replay: exit %d\n%s", code, out)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestDeadLettersCLIUsage: bad usage exits 2 with a hint, help exits 0,
// and a daemon without cloud sync answers that it keeps no dead letters.
func TestDeadLettersCLIUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"deadletters"}, 2, "Usage:"},
		{[]string{"deadletters", "lsit"}, 2, `did you mean "list"`},
		{[]string{"deadletters", "replay"}, 2, "give the ids, or --all"},
		{[]string{"deadletters", "drop", "3", "--all"}, 2, "give the ids, or --all"},
		{[]string{"deadletters", "drop", "x"}, 2, `"x" is not a dead letter id`},
		{[]string{"deadletters", "show"}, 2, "takes one id"},
		{[]string{"deadletters", "list", "--limit", "0"}, 2, "--limit 0"},
		{[]string{"deadleters"}, 2, `did you mean "deadletters"`},
		{[]string{"deadletters", "drop", "--all", "--older-than", "-1s"}, 2, "--older-than -1s"},
		{[]string{"deadletters", "list", "--older-than", "1h"}, 2, "--older-than is for replay and drop"},
		{[]string{"deadletters", "--help"}, 0, "edged deadletters replay"},
		{[]string{"help", "deadletters"}, 0, "edged deadletters replay"},
	} {
		code, out, errOut := cli(c.args...)
		if code != c.code || !strings.Contains(out+errOut, c.want) {
			t.Errorf("edged %s: exit %d, output %q; want exit %d and %q", strings.Join(c.args, " "), code, out+errOut, c.code, c.want)
		}
	}
	dir := t.TempDir()
	d, stop := startDaemon(t, writeConfig(t, dir, fmt.Sprintf("http: {listen: 127.0.0.1:0}\nlocal_mqtt: {mode: off}\ndata_dir: %s\n", dir)))
	defer stop()
	code, _, errOut := cli("deadletters", "list", "--api", "http://"+d.api.Addr())
	if code != 1 || !strings.Contains(errOut, "cloud.url is empty") {
		t.Errorf("list without cloud sync: exit %d %q; want 1, cloud.url is empty", code, errOut)
	}
}
