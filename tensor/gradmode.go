package tensor

import (
	"sync"
	"sync/atomic"
)

// Grad mode is per goroutine, as torch's is per thread: a no-grad scope
// entered by one goroutine never changes what another records. Go has no
// goroutine-local storage, so the mode of every goroutine inside a scope
// is kept in a table keyed by the goroutine's identity (see goroutineKey),
// and an atomic count of such goroutines lets the common case (no scope
// anywhere) skip the lookup.
//
// The identity is the address of the runtime's goroutine descriptor (read
// by a few instructions of assembly on amd64 and arm64), or the goroutine
// id parsed from runtime.Stack elsewhere and in purego builds. Either is
// unique among live goroutines; the address is reused once a goroutine
// exits, which is safe here because an entry lives exactly as long as the
// WithGradEnabled call that made it: the call removes (or restores) it in
// a deferred function, and a goroutine cannot exit with a call still on
// its stack without running that function (return, panic and
// runtime.Goexit all unwind through it). So no entry outlives its
// goroutine, a new goroutine never finds a stale one, and the table holds
// entries only for goroutines inside a scope right now.

// modeScopes counts the goroutines that have an entry in the table.
var modeScopes atomic.Int32

// modeShards spread the table over independent locks, so goroutines that
// look up their mode at the same time rarely contend.
const modeShardBits = 6

type modeShard struct {
	mu sync.Mutex
	m  map[uintptr]bool // goroutine → grad enabled
	_  [40]byte         // keep shards on separate cache lines
}

var modeShards [1 << modeShardBits]modeShard

func shardOf(id uintptr) *modeShard {
	h := uint64(id) * 0x9e3779b97f4a7c15 // Fibonacci hashing: high bits mix all of id
	return &modeShards[h>>(64-modeShardBits)]
}

// GradEnabled reports whether ops on the calling goroutine record for
// autograd (true unless inside a no-grad scope).
func GradEnabled() bool {
	if modeScopes.Load() == 0 {
		return true
	}
	return gradEnabledSlow()
}

func gradEnabledSlow() bool {
	id := goroutineKey()
	sh := shardOf(id)
	sh.mu.Lock()
	on, ok := sh.m[id]
	sh.mu.Unlock()
	return !ok || on
}

// WithGradEnabled runs f with recording switched on or off for the calling
// goroutine only, and restores the previous mode when f returns or
// panics. Goroutines that f starts do not inherit the mode (as threads
// started under torch.no_grad do not). autograd.NoGrad is the usual
// spelling.
func WithGradEnabled(on bool, f func()) {
	id := goroutineKey()
	sh := shardOf(id)
	sh.mu.Lock()
	prev, had := sh.m[id]
	if !had {
		if sh.m == nil {
			sh.m = map[uintptr]bool{}
		}
		modeScopes.Add(1)
	}
	sh.m[id] = on
	sh.mu.Unlock()
	defer func() {
		sh.mu.Lock()
		if had {
			sh.m[id] = prev
		} else {
			delete(sh.m, id)
			modeScopes.Add(-1)
		}
		sh.mu.Unlock()
	}()
	f()
}

// gradModeEntries is the number of goroutines the table holds (tests).
func gradModeEntries() int {
	n := 0
	for i := range modeShards {
		sh := &modeShards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

var anomaly atomic.Bool

// SetAnomalyDetection switches anomaly detection on or off for the whole
// process (autograd.DetectAnomaly is the usual spelling). While on, every
// recorded op keeps the stack of the code that ran it, and backward checks
// each gradient it computes: the first NaN or Inf panics with an
// ErrAnomaly error naming the backward op and where its forward op ran.
// It slows recording down; use it to debug.
func SetAnomalyDetection(on bool) { anomaly.Store(on) }

// AnomalyDetection reports whether anomaly detection is on.
func AnomalyDetection() bool { return anomaly.Load() }
