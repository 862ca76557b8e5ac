package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mainIn runs Main in this process with an environment that could not start a server
// (production without a store): a command that should only print usage never gets that far.
func mainIn(args ...string) (code int, stdout, stderr string) {
	env := map[string]string{"BACKSTITCH_ENV": "production"}
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelpAndVersionExitZero(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		want, not []string
	}{
		{[]string{"--help"}, []string{"Usage: backstitch [COMMAND]", "serve", "admin create", "repair", "version", "Exit status"}, nil},
		{[]string{"-h"}, []string{"Usage: backstitch [COMMAND]"}, nil},
		{[]string{"help"}, []string{"Usage: backstitch [COMMAND]"}, nil},
		{[]string{"version"}, []string{"backstitch dev", "go1."}, []string{"Usage"}},
		{[]string{"--version"}, []string{"backstitch dev"}, nil},
		{[]string{"serve", "--help"}, []string{"Usage: backstitch serve", "BACKSTITCH_ADDR=:8080", "MONGODB_URI=", "STRIPE_SECRET_KEY=", "BACKSTITCH_SESSION_TTL=12h"}, nil},
		{[]string{"serve", "-h"}, []string{"Usage: backstitch serve"}, nil},
		{[]string{"help", "serve"}, []string{"Usage: backstitch serve", "BACKSTITCH_PLATFORM_FEE_BPS=500"}, nil},
		{[]string{"admin", "create", "--help"}, []string{"Usage: backstitch admin create [FLAGS]", "-email", "-name", "BACKSTITCH_ADMIN_PASSWORD", "BACKSTITCH_DATA_DIR=./data", "MONGODB_URI="},
			[]string{"STRIPE_SECRET_KEY", "BACKSTITCH_SESSION_TTL"}},
		{[]string{"repair", "--help"}, []string{"Usage: backstitch repair [FLAGS]", "-fix", "MONGODB_URI="}, []string{"BACKSTITCH_ADMIN_PASSWORD", "STRIPE_SECRET_KEY"}},
		{[]string{"help", "admin", "create"}, []string{"Usage: backstitch admin create"}, nil},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := mainIn(tc.args...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out, n) {
					t.Errorf("output has %q, which this command does not read:\n%s", n, out)
				}
			}
		})
	}
}

func TestUnknownCommandsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"}, {"serve", "extra"}, {"serve", "--port=1"}, {"admin"}, {"admin", "delete"},
		{"admin", "create", "--bogus"}, {"admin", "create"}, {"help", "frobnicate"}, {"repair", "now"}, {"-x"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := mainIn(args...)
			if code != 2 || out != "" || !strings.Contains(errOut, "Usage: backstitch") || !strings.HasPrefix(errOut, "backstitch: ") {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 2 with the problem and usage on stderr", code, out, errOut)
			}
		})
	}
}

// The real binary's exit statuses, and `serve --help` starts nothing: no store, no port.
func TestBinaryExitStatuses(t *testing.T) {
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	for _, tc := range []struct {
		args []string
		code int
	}{{[]string{"--help"}, 0}, {[]string{"serve", "--help"}, 0}, {[]string{"version"}, 0}, {[]string{"frobnicate"}, 2}, {[]string{"serve", "--bogus"}, 2}} {
		cmd := exec.Command(bin, tc.args...)
		cmd.Env = cleanEnv("BACKSTITCH_DATA_DIR="+data, "BACKSTITCH_ADDR="+freeAddr(t))
		out, err := cmd.CombinedOutput()
		code := 0
		if exit, ok := errors.AsType[*exec.ExitError](err); ok {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d\n%s", tc.args, code, tc.code, out)
		}
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a help or usage command opened the store: %v", err)
	}
}

// fatalLine finds the JSON log line of a failed start and returns its error text.
func fatalLine(t *testing.T, logs string) string {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["level"] == "fatal" {
			return line["error"].(string)
		}
	}
	t.Fatalf("no fatal JSON log line:\n%s", logs)
	return ""
}

// A taken port fails at once, before the embedded store opens its folder, naming the setting,
// on stderr and as a JSON log line.
func TestAddrInUseFailsBeforeTheStore(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	data := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(buildBinary(t))
	cmd.Env = cleanEnv("BACKSTITCH_ADDR="+ln.Addr().String(), "BACKSTITCH_DATA_DIR="+data)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err == nil {
		t.Fatal("started on a taken port")
	}
	if !strings.Contains(stderr.String(), "BACKSTITCH_ADDR") || !strings.Contains(fatalLine(t, stdout.String()), "BACKSTITCH_ADDR") {
		t.Fatalf("the refusal does not name BACKSTITCH_ADDR:\nstderr %s\nstdout %s", stderr.String(), stdout.String())
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the embedded store started before the address was checked: %v", err)
	}
}

func TestUnreachableMongoDBNamesMONGODB_URI(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there any more
	cmd := exec.Command(buildBinary(t))
	cmd.Env = cleanEnv("BACKSTITCH_ADDR="+freeAddr(t), "MONGODB_URI=mongodb://user:hunter2@"+dead+"/?connectTimeoutMS=200")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err == nil {
		t.Fatal("started without its store")
	}
	t.Logf("failed after %v", time.Since(start))
	if !strings.Contains(stderr.String(), "MONGODB_URI") || !strings.Contains(fatalLine(t, stdout.String()), "MONGODB_URI") {
		t.Fatalf("the error does not name MONGODB_URI:\nstderr %s\nstdout %s", stderr.String(), stdout.String())
	}
	if strings.Contains(stdout.String()+stderr.String(), "hunter2") {
		t.Fatal("the MongoDB password reached the output")
	}
}
