package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"

	"github.com/edged-gateway/edged/sync/broker/auth"
)

const brokerUsage = `Usage:
  edged broker passwd [--delete] [--cost N] FILE USER

Creates or updates USER in FILE, the embedded broker's password file
(local_mqtt.passwd_file), with a bcrypt hash of the password. The password is
asked for twice on a terminal, or read as one line from standard input:

  echo "$SENSOR_PASSWORD" | edged broker passwd /etc/edged/passwd porch-node

The file is written atomically with mode 0600; other users and comments are
kept. The format is mosquitto's (user:hash), so a mosquitto_passwd file with
bcrypt hashes works too. A running edged reads the file at start.

Flags:
`

func brokerFlags(out io.Writer, del *bool, cost *int) *flag.FlagSet {
	fs := flag.NewFlagSet("edged broker passwd", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.BoolVar(del, "delete", false, "remove USER from FILE instead")
	fs.IntVar(cost, "cost", bcrypt.DefaultCost, fmt.Sprintf("bcrypt cost, %d to %d (each step doubles the work of a login)", bcrypt.MinCost, bcrypt.MaxCost))
	fs.Usage = func() {
		fmt.Fprint(out, brokerUsage)
		fs.PrintDefaults()
	}
	return fs
}

func cmdBroker(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var del bool
	var cost int
	if len(args) == 0 || args[0] != "passwd" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			brokerFlags(stdout, &del, &cost).Usage()
			return 0
		}
		brokerFlags(stderr, &del, &cost).Usage()
		return 2
	}
	fs := brokerFlags(stderr, &del, &cost)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 2 {
		fmt.Fprintf(stderr, "edged broker passwd: want FILE and USER, got %d argument(s)\n\n", fs.NArg())
		fs.Usage()
		return 2
	}
	file, user := fs.Arg(0), fs.Arg(1)
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		fmt.Fprintf(stderr, "edged broker passwd: --cost %d is out of range: use %d to %d\n", cost, bcrypt.MinCost, bcrypt.MaxCost)
		return 2
	}
	if del {
		if err := auth.DeleteUser(file, user); err != nil {
			fmt.Fprintf(stderr, "edged broker passwd: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: removed %s\n", file, user)
		return 0
	}
	password, err := readPassword(stdin, stderr, user)
	if err != nil {
		fmt.Fprintf(stderr, "edged broker passwd: %v\n", err)
		return 1
	}
	if err := auth.SetPassword(file, user, password, cost); err != nil {
		fmt.Fprintf(stderr, "edged broker passwd: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: set the password of %s\n", file, user)
	return 0
}

// readPassword asks twice without echo on a terminal, or reads one line.
func readPassword(stdin io.Reader, prompt io.Writer, user string) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(prompt, "Password for %s: ", user)
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(prompt, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ; nothing changed")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if errors.Is(err, io.EOF) && line == "" {
		return "", errors.New("standard input is empty: pipe the password in, e.g. echo \"$PASSWORD\" | edged broker passwd FILE USER")
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from standard input: %w (pipe it in, e.g. echo \"$PASSWORD\" | edged broker passwd FILE USER)", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("the password is empty")
	}
	return line, nil
}
