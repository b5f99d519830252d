//go:build race

package sim

// raceEnabled: the race detector slows runs about tenfold; tests run fewer
// seeds by default under it.
const raceEnabled = true
