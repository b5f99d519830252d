package main

import "testing"

// TestRun runs the example end to end, so CI proves it works.
func TestRun(t *testing.T) {
	if err := run(); err != nil {
		t.Fatalf("run() = %v", err)
	}
}
