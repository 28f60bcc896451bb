//go:build !race

package tensor

// raceBuild is false: see overhead_race_test.go.
const raceBuild = false
