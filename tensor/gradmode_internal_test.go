package tensor

import (
	"runtime"
	"sync"
	"testing"
)

// goroutineKey must tell live goroutines apart and stay fixed for one
// goroutine across blocking and stack growth.
func TestGoroutineKeyDistinctAndStable(t *testing.T) {
	const n = 64
	keys := make([]uintptr, n)
	var ready, release sync.WaitGroup
	ready.Add(n)
	release.Add(1)
	var done sync.WaitGroup
	stable := make([]bool, n)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			k := goroutineKey()
			keys[i] = k
			ready.Done()
			release.Wait() // all n are alive at once here
			growStack(200)
			runtime.Gosched()
			stable[i] = goroutineKey() == k
		}()
	}
	ready.Wait()
	release.Done()
	done.Wait()
	seen := map[uintptr]int{}
	for i, k := range keys {
		if k == 0 {
			t.Fatalf("goroutine %d has key 0", i)
		}
		if j, dup := seen[k]; dup {
			t.Fatalf("live goroutines %d and %d share key %#x", j, i, k)
		}
		seen[k] = i
		if !stable[i] {
			t.Errorf("goroutine %d's key changed during its life", i)
		}
	}
	if goroutineKey() == keys[0] {
		t.Error("the test goroutine shares a key with another live goroutine")
	}
}

//go:noinline
func growStack(n int) int {
	var pad [256]byte
	pad[n%256] = byte(n)
	if n == 0 {
		return int(pad[0])
	}
	return growStack(n-1) + int(pad[n%256])
}

// Scopes that end by return, panic or runtime.Goexit leave no entry
// behind, and goroutines started afterwards (which may reuse the
// descriptors of those that ended) see grad mode on.
func TestGradModeNoLeakAcrossGoroutines(t *testing.T) {
	if n := gradModeEntries(); n != 0 {
		t.Fatalf("%d grad-mode entries before the test", n)
	}
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch i % 3 {
			case 0:
				WithGradEnabled(false, func() {})
			case 1:
				func() {
					defer func() { _ = recover() }()
					WithGradEnabled(false, func() { panic("boom") })
				}()
			case 2:
				WithGradEnabled(false, func() { runtime.Goexit() })
			}
		}()
	}
	wg.Wait()
	if n := gradModeEntries(); n != 0 {
		t.Fatalf("%d grad-mode entries left after every scope ended", n)
	}
	if modeScopes.Load() != 0 {
		t.Fatalf("scope count %d after every scope ended", modeScopes.Load())
	}
	// new goroutines, some on reused descriptors, start with grad on,
	// even while another goroutine sits inside a no-grad scope
	hold, held := make(chan struct{}), make(chan struct{})
	go WithGradEnabled(false, func() { close(held); <-hold })
	<-held
	bad := make(chan int, 300)
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !GradEnabled() {
				bad <- i
			}
		}()
	}
	wg.Wait()
	close(hold)
	close(bad)
	for i := range bad {
		t.Errorf("fresh goroutine %d found grad mode off", i)
	}
}

// Nested scopes restore the mode they found, on each goroutine
// independently, while many goroutines switch at once.
func TestGradModeNestedConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				outer := (i+j)%2 == 0
				WithGradEnabled(outer, func() {
					if GradEnabled() != outer {
						errs <- "outer mode wrong"
					}
					WithGradEnabled(!outer, func() {
						if GradEnabled() == outer {
							errs <- "inner mode wrong"
						}
					})
					if GradEnabled() != outer {
						errs <- "outer mode not restored"
					}
				})
				if !GradEnabled() {
					errs <- "mode off outside every scope"
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	if n := gradModeEntries(); n != 0 {
		t.Fatalf("%d entries left", n)
	}
}
