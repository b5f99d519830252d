package check

import (
	"errors"
	"testing"
)

func TestFailf(t *testing.T) {
	var err error = Failf(DurabilityName, "entry %d on %d nodes", 7, 1)
	var v *Violation
	if !errors.As(err, &v) {
		t.Fatalf("errors.As(Failf(...), *Violation) = false, want true")
	}
	if v.Checker != DurabilityName || v.Msg != "entry 7 on 1 nodes" {
		t.Errorf("Failf(%q, ...) = {%q, %q}, want {%q, %q}", DurabilityName, v.Checker, v.Msg, DurabilityName, "entry 7 on 1 nodes")
	}
	if got, want := err.Error(), "check: committed entries durable: entry 7 on 1 nodes"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
