package cpu

// The backend-agnostic conformance suite (package backend/backendtest),
// run against this backend: the whole suite once with the GEMM dispatch
// this machine picks, then its float MatMul part once per GEMM path
// (gemmPaths: the pure-Go kernel, each SIMD kernel this CPU runs, those
// with tiny blocks, and the Go twin through the packed blocking), as the
// design's "one conformance table, SIMD and pure-Go paths both" asks.

import (
	"strings"
	"testing"
	"time"

	"github.com/tapir-ml/tapir/backend/backendtest"
)

// knownGaps are the suite's cases this backend does not meet, each with
// the reason. None at present.
var knownGaps []string

func skipKnownGap(name string) bool {
	for _, g := range knownGaps {
		if name == g || strings.HasPrefix(name, g+"/") {
			return true
		}
	}
	return false
}

func TestBackendConformance(t *testing.T) {
	// one seed for every run below (TAPIR_BACKENDTEST_SEED still wins)
	seed := uint64(time.Now().UnixNano())
	t.Run("default", func(t *testing.T) {
		backendtest.Run(t, Get(), backendtest.Options{Seed: seed, Skip: skipKnownGap})
	})
	paths := gemmPaths()
	if raceEnabled && len(paths) > 3 {
		paths = []gemmPath{paths[0], paths[1], paths[len(paths)-1]}
	}
	// the GEMM paths are the float ones; integer MatMul has a single path
	floatMatMul := func(name string) bool {
		return name != "MatMul" && !strings.HasPrefix(name, "MatMul/float32") && !strings.HasPrefix(name, "MatMul/float64")
	}
	for _, p := range paths {
		t.Run("gemm "+p.name, func(t *testing.T) {
			withGemmPath(t, p)
			backendtest.Run(t, Get(), backendtest.Options{Seed: seed, Skip: floatMatMul})
		})
	}
}
