//go:build race

package cpu

// raceEnabled trims the largest numeric sweeps under the race detector,
// which slows them tenfold: the parallel paths still all run, with fewer
// layout and thread-count variations.
const raceEnabled = true
