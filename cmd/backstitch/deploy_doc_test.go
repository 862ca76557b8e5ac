package main

import (
	"flag"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
)

// Every backstitch command the deployment guide and the README tell an operator to run is one
// this binary has, with flags it accepts.
func TestDocumentedCommandsExist(t *testing.T) {
	found := 0
	for _, path := range []string{"../../docs/deploy.md", "../../README.md"} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// A command starts a line of a code block or an inline code span (after any VAR=value
		// prefix or "go run ./cmd/backstitch") and runs to the end of the span or line.
		re := regexp.MustCompile("(?m)(?:^\\s*|`|go run \\./cmd/)(?:[A-Z_]+=\\S+ )*backstitch((?: [a-z-][\\w=.-]*)*)")
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			args := strings.Fields(m[1])
			found++
			if len(args) > 0 && args[0] == "help" {
				args = args[1:] // "backstitch help COMMAND" shows a command's usage
			}
			if len(args) == 0 {
				continue // "backstitch" alone serves, "backstitch help" lists the commands
			}
			cmd, rest := findCommand(args)
			if cmd == nil {
				t.Errorf("%s: `backstitch %s` is not a command (see `backstitch help`)", path, m[1])
				continue
			}
			fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			cmd.flags(fs, environment{})
			if err := fs.Parse(rest); err != nil {
				t.Errorf("%s: `backstitch%s`: %v", path, m[1], err)
			}
		}
	}
	if found < 3 {
		t.Fatalf("found %d backstitch commands in the docs: the pattern no longer matches them", found)
	}
}
