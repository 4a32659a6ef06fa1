//go:build linux

package testlab

import (
	"os/exec"
	"testing"
	"time"
)

func TestTail(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb", 5, "a\nb"},
		{"", 3, ""},
	} {
		if got := Tail(tc.in, tc.n); got != tc.want {
			t.Errorf("Tail(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestPoll(t *testing.T) {
	n := 0
	if err := Poll(time.Minute, time.Millisecond, nil, func() bool { n++; return n == 3 }); err != nil || n != 3 {
		t.Errorf("Poll: %v after %d calls", err, n)
	}
	if err := Poll(time.Minute, time.Millisecond, func() bool { return false }, func() bool { return true }); err != ErrExited {
		t.Errorf("Poll with a dead process: %v", err)
	}
	if err := Poll(0, time.Millisecond, nil, func() bool { return false }); err != ErrTimeout {
		t.Errorf("Poll past its deadline: %v", err)
	}
}

// Supervise reports the exit status before done closes, and a process that
// exits by itself gets no signal at cleanup.
func TestSupervise(t *testing.T) {
	var got error
	var out Buffer
	cmd := exec.Command("sh", "-c", "echo hello; exit 3")
	cmd.Stdout = &out
	done, err := Supervise(t, "sh", cmd, time.Second, t.Errorf, func(err error) { got = err }, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-done
	if ee, ok := got.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Errorf("exit status %v, want 3", got)
	}
	if out.String() != "hello\n" {
		t.Errorf("output %q", out.String())
	}
}
