// Package tap writes Test Anything Protocol (version 13) output.
//
// berth's own stand-in for github.com/mndrix/tap-go, which Debian does not
// package: the same API, written for scripts/conformance.sh so that the
// runtime-tools validation suite builds offline in GOPATH mode.
package tap

import (
	"fmt"
	"io"
	"os"
	"strings"

	yaml "gopkg.in/yaml.v2"
)

// T is a TAP stream. Todo() copies share the test counter.
type T struct {
	next   *int
	TODO   bool
	Writer io.Writer
}

// New returns a stream on standard output.
func New() *T {
	n := 1
	return &T{next: &n, Writer: os.Stdout}
}

func (t *T) printf(format string, a ...interface{}) {
	fmt.Fprintf(t.Writer, format, a...)
}

// Header prints the version line and, for testCount > 0, the plan.
func (t *T) Header(testCount int) {
	t.printf("TAP version 13\n")
	if testCount > 0 {
		t.printf("1..%d\n", testCount)
	}
}

// Ok records one test point.
func (t *T) Ok(test bool, description string) {
	status := "ok"
	if !test {
		status = "not ok"
	}
	directive := ""
	if t.TODO {
		directive = " # TODO"
	}
	t.printf("%s %d - %s%s\n", status, *t.next, description, directive)
	*t.next++
}

// Fail records a failing test point.
func (t *T) Fail(description string) { t.Ok(false, description) }

// Pass records a passing test point.
func (t *T) Pass(description string) { t.Ok(true, description) }

// Count is the number of test points so far.
func (t *T) Count() int { return *t.next - 1 }

// AutoPlan prints the plan for the test points so far.
func (t *T) AutoPlan() { t.printf("1..%d\n", t.Count()) }

// Todo returns a stream whose test points are marked TODO.
func (t *T) Todo() *T { return &T{next: t.next, TODO: true, Writer: t.Writer} }

// Skip records count skipped test points.
func (t *T) Skip(count int, description string) {
	for i := 0; i < count; i++ {
		t.printf("ok %d # SKIP %s\n", *t.next, description)
		*t.next++
	}
}

// Diagnostic prints a comment, one "# " per line.
func (t *T) Diagnostic(message string) {
	t.printf("# %s\n", strings.Replace(message, "\n", "\n# ", -1))
}

// Diagnosticf is Diagnostic with a format.
func (t *T) Diagnosticf(format string, a ...interface{}) {
	t.Diagnostic(fmt.Sprintf(format, a...))
}

// YAML prints a YAML block for the previous test point.
func (t *T) YAML(message interface{}) error {
	b, err := yaml.Marshal(message)
	if err != nil {
		return err
	}
	body := strings.TrimRight(string(b), "\n")
	t.printf("  ---\n  %s\n  ...\n", strings.Replace(body, "\n", "\n  ", -1))
	return nil
}
