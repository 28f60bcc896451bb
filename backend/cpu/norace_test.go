//go:build !race

package cpu

// raceEnabled is false: see race_test.go.
const raceEnabled = false
