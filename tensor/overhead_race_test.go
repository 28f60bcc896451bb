//go:build race

package tensor

// raceBuild is true under the race detector, which allocates on its own.
const raceBuild = true
