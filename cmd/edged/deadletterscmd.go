package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/edged-gateway/edged/runtime/localapi"
	"github.com/edged-gateway/edged/sync/deadletter"
)

// deadLetterAPI wires /api/v1/deadletters to the dead-letter store (opened
// with the cloud link, after the API) and the outbox replays go to.
func (d *daemon) deadLetterAPI() localapi.DeadLetterAPI {
	return localapi.DeadLetterAPI{Store: func() localapi.DeadLetterStore { return newDLStore(d.dead, d.outbox.Append) }}
}

// warnUnfinishedReplays logs the dead letters a replay had begun on when
// the gateway stopped: their readings may be in the outbox already.
func (d *daemon) warnUnfinishedReplays(s *deadletter.Store) {
	if n := s.Stats().Unfinished; n > 0 {
		d.log.Warn("dead letters: a replay was cut short when edged stopped; these entries may already be in the outbox, so replaying them again may deliver them twice (edged deadletters list shows them as replaying; drop them to avoid that)", "entries", n)
	}
}

const deadLettersUsage = `Usage:
  edged deadletters list [--limit N] [--after ID]   list dead letters, oldest first (one page)
  edged deadletters show ID                         show one dead letter
  edged deadletters replay ID... | --all            send them again: each goes back into the outbox
                                                    with a new seq (the answer pairs it with the
                                                    original one) and leaves the dead letters
  edged deadletters drop ID... | --all              delete them for good
  (replay and drop take --older-than 24h: only those dead-lettered that long ago or more)

Dead letters are readings the cloud refused every time (too large for the
broker, not allowed, or refused cloud.max_attempts times when sent alone).
Every subcommand also takes --config FILE, or --api URL and --token-file F;
replay and drop need the API token. Output is JSON.

Exit codes: 0 ok, 1 failure or an ID that is not a dead letter, 2 bad usage.
`

var deadLetterSubcommands = []string{"list", "show", "replay", "drop", "help"}

// cmdDeadLetters implements `edged deadletters`.
func cmdDeadLetters(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, deadLettersUsage)
		return 2
	}
	sub := args[0]
	if sub == "help" || isHelp(sub) {
		fmt.Fprint(stdout, deadLettersUsage)
		return 0
	}
	switch sub {
	case "list", "show", "replay", "drop":
	default:
		fmt.Fprintf(stderr, "edged deadletters: unknown subcommand %q%s\n\n%s", sub, didYouMean(sub, deadLetterSubcommands), deadLettersUsage)
		return 2
	}
	fs := flag.NewFlagSet("edged deadletters "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlags(fs)
	limit := fs.Int("limit", 100, fmt.Sprintf("list: the most dead letters shown (1 to %d)", deadletter.MaxPage))
	after := fs.Uint64("after", 0, "list: show those with an id above this (the \"next\" of the previous page)")
	all := fs.Bool("all", false, "replay, drop: every dead letter")
	olderThan := fs.Duration("older-than", 0, "replay, drop: only those dead-lettered at least this long ago (e.g. 24h)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\nFlags:\n", deadLettersUsage)
		fs.PrintDefaults()
	}
	// Flags may come before, between or after the ids.
	var pos []string
	for rest := args[1:]; ; rest = fs.Args()[1:] {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "edged deadletters %s: %s\nRun 'edged deadletters --help' for the usage.\n", sub, fmt.Sprintf(format, a...))
		return 2
	}
	ids := make([]uint64, 0, len(pos))
	for _, a := range pos {
		id, err := strconv.ParseUint(a, 10, 64)
		if err != nil || id == 0 {
			return bad("%q is not a dead letter id (a whole number from 1, as edged deadletters list shows)", a)
		}
		ids = append(ids, id)
	}
	var (
		method = http.MethodGet
		path   string
		body   []byte
	)
	switch sub {
	case "list", "show":
		if *olderThan != 0 {
			return bad("--older-than is for replay and drop")
		}
	}
	switch sub {
	case "list":
		if len(ids) > 0 || *all {
			return bad("takes no ids and no --all (did you mean show ID?)")
		}
		if *limit < 1 || *limit > deadletter.MaxPage {
			return bad("--limit %d: use 1 to %d", *limit, deadletter.MaxPage)
		}
		path = fmt.Sprintf("/api/v1/deadletters?limit=%d&after=%d", *limit, *after)
	case "show":
		if len(ids) != 1 || *all {
			return bad("takes one id")
		}
		path = "/api/v1/deadletters/" + url.PathEscape(strconv.FormatUint(ids[0], 10))
	default: // replay, drop
		if (len(ids) > 0) == *all {
			return bad("give the ids, or --all (not both)")
		}
		if len(ids) > deadletter.MaxIDs {
			return bad("%d ids, over %d: use --all, or run it several times", len(ids), deadletter.MaxIDs)
		}
		if *olderThan < 0 {
			return bad("--older-than %s: use a positive duration such as 24h", *olderThan)
		}
		sel := map[string]any{"ids": ids, "all": *all}
		if *olderThan > 0 {
			sel["older_than"] = olderThan.String()
		}
		method, path = http.MethodPost, "/api/v1/deadletters/"+sub
		body, _ = json.Marshal(sel)
	}
	var doc json.RawMessage
	code, err := api.call(ctx, method, path, body, &doc)
	if err != nil {
		fmt.Fprintf(stderr, "edged deadletters %s: %v\n", sub, err)
		return 1
	}
	if code/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(doc, &e)
		if e.Error == "" {
			e.Error = "no reason given"
		}
		fmt.Fprintf(stderr, "edged deadletters %s: HTTP %d: %s\n", sub, code, e.Error)
		if sub != "replay" && sub != "drop" {
			return 1
		}
		// The answer also says what was done: print it.
	}
	stdout.Write(doc)
	if len(doc) > 0 && doc[len(doc)-1] != '\n' {
		fmt.Fprintln(stdout)
	}
	if code/100 != 2 {
		return 1
	}
	return 0
}
