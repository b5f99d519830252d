package check

import "fmt"

// Checker names, as they appear in Violation.Checker.
const (
	ElectionSafetyName     = "election safety"
	LeaderAppendOnlyName   = "leader append-only"
	LeaderCommitName       = "leader commit rule"
	LogMatchingName        = "log matching"
	LeaderCompletenessName = "leader completeness"
	StateMachineSafetyName = "state-machine safety"
	DurabilityName         = "committed entries durable"
	LinearizabilityName    = "linearizability"
	LivenessName           = "liveness"
	ReadyContractName      = "ready contract"
	PersistenceName        = "persistence"
)

// Violation is a broken invariant: which checker found it and the values
// that prove it.
type Violation struct {
	// Checker is one of the *Name constants.
	Checker string
	// Msg describes the violation with the values involved.
	Msg string
}

func (v *Violation) Error() string { return "check: " + v.Checker + ": " + v.Msg }

// Failf returns a Violation of checker with a formatted message.
func Failf(checker, format string, args ...any) *Violation {
	return &Violation{Checker: checker, Msg: fmt.Sprintf(format, args...)}
}
