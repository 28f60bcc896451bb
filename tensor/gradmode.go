package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Grad mode is per goroutine, as torch's is per thread: a no-grad scope
// entered by one goroutine never changes what another records. Go has no
// goroutine-local storage, so scopes are kept in a map keyed by goroutine
// id, and an atomic count lets the common case (no scope anywhere) skip
// the lookup. Only ops that would record pay for it, and only while some
// goroutine is inside a scope.

var (
	modeScopes atomic.Int32 // goroutines with a non-empty stack
	modeMu     sync.Mutex
	modeStacks = map[uint64][]bool{}
)

// goid returns the calling goroutine's id, read from the header line of
// its stack trace ("goroutine 123 [running]:").
func goid() uint64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	b := buf[:n]
	const prefix = "goroutine "
	if len(b) < len(prefix) {
		return 0
	}
	var id uint64
	for _, c := range b[len(prefix):] {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}

// GradEnabled reports whether ops on the calling goroutine record for
// autograd (true unless inside a no-grad scope).
func GradEnabled() bool {
	if modeScopes.Load() == 0 {
		return true
	}
	id := goid()
	modeMu.Lock()
	st := modeStacks[id]
	modeMu.Unlock()
	if len(st) == 0 {
		return true
	}
	return st[len(st)-1]
}

// WithGradEnabled runs f with recording switched on or off for the calling
// goroutine only, and restores the previous mode when f returns or
// panics. Goroutines that f starts do not inherit the mode (as threads
// started under torch.no_grad do not). autograd.NoGrad is the usual
// spelling.
func WithGradEnabled(on bool, f func()) {
	id := goid()
	modeMu.Lock()
	st := modeStacks[id]
	if len(st) == 0 {
		modeScopes.Add(1)
	}
	modeStacks[id] = append(st, on)
	modeMu.Unlock()
	defer func() {
		modeMu.Lock()
		st := modeStacks[id]
		st = st[:len(st)-1]
		if len(st) == 0 {
			delete(modeStacks, id)
			modeScopes.Add(-1)
		} else {
			modeStacks[id] = st
		}
		modeMu.Unlock()
	}()
	f()
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
