package cpu

import "sync"

// grain is the number of elements below which an elementwise kernel runs
// on one goroutine: starting a goroutine costs about a microsecond, and
// 32K simple elements take about that long per core.
const grain = 1 << 15

// parallelFor runs fn over [0, n) split into at most NumThreads chunks of
// at least minChunk elements, on the calling goroutine and helpers.
func parallelFor(n, minChunk int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	p := NumThreads()
	if minChunk < 1 {
		minChunk = 1
	}
	if c := n / minChunk; c < p {
		p = c
	}
	if p <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	wg.Add(p - 1)
	for i := 1; i < p; i++ {
		lo, hi := n*i/p, n*(i+1)/p
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	fn(0, n/p)
	wg.Wait()
}
