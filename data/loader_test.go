package data

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapir-ml/tapir/tensor"
)

// slowInts is a Dataset[int] whose sample i is i, taking a pseudo-random
// time so that workers finish out of order; failAt (≥ 0) fails that index.
type slowInts struct {
	n      int
	failAt int
	calls  atomic.Int64
	delay  time.Duration
}

var errBroken = errors.New("broken sample")

func (d *slowInts) Len() int { return d.n }

func (d *slowInts) At(i int) (int, error) {
	d.calls.Add(1)
	if d.delay > 0 {
		// a delay that varies with i, so batches finish out of order
		time.Sleep(time.Duration(int64(d.delay) * int64(1+(i*7919)%5) / 3))
	}
	if i == d.failAt {
		return 0, errBroken
	}
	return i, nil
}

func collectInts(xs []int) ([]int, error) { return append([]int(nil), xs...), nil }

// epochOf runs one epoch and returns its batches and the errors yielded.
func epochOf(l *Loader[int, []int], ctx context.Context) (batches [][]int, errs []error) {
	for b, err := range l.All(ctx) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		batches = append(batches, b)
	}
	return
}

func flat(bs [][]int) []int {
	var out []int
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func TestLoaderBatching(t *testing.T) {
	// expected batches worked out by hand from torch's DataLoader rules
	cases := []struct {
		name string
		n    int
		cfg  LoaderConfig
		want [][]int
	}{
		{"default batch of one", 3, LoaderConfig{}, [][]int{{0}, {1}, {2}}},
		{"short last batch", 7, LoaderConfig{BatchSize: 3}, [][]int{{0, 1, 2}, {3, 4, 5}, {6}}},
		{"drop last", 7, LoaderConfig{BatchSize: 3, DropLast: true}, [][]int{{0, 1, 2}, {3, 4, 5}}},
		{"exact", 6, LoaderConfig{BatchSize: 3, DropLast: true}, [][]int{{0, 1, 2}, {3, 4, 5}}},
		{"batch larger than data, drop last", 2, LoaderConfig{BatchSize: 3, DropLast: true}, nil},
		{"empty dataset", 0, LoaderConfig{BatchSize: 3}, nil},
		{"workers", 10, LoaderConfig{BatchSize: 4, Workers: 3}, [][]int{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}}},
		{"workers, prefetch 1, drop last", 10, LoaderConfig{BatchSize: 4, Workers: 3, Prefetch: 1, DropLast: true}, [][]int{{0, 1, 2, 3}, {4, 5, 6, 7}}},
		{"sampler", 5, LoaderConfig{BatchSize: 2, Workers: 2, Sampler: DistributedSampler{N: 5, Rank: 1, WorldSize: 2}}, [][]int{{1, 3}, {0}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := NewLoader[int, []int](&slowInts{n: c.n, failAt: -1}, c.cfg, collectInts)
			got, errs := epochOf(l, context.Background())
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if !slices.EqualFunc(got, c.want, slices.Equal) {
				t.Fatalf("batches %v, want %v", got, c.want)
			}
			if l.Len() != len(c.want) {
				t.Fatalf("Len %d, want %d", l.Len(), len(c.want))
			}
		})
	}
}

func TestLoaderOrderWithWorkers(t *testing.T) {
	// workers finish batches out of order (delays vary); the consumer must
	// still see the sampler's order
	for _, w := range []int{1, 2, 5, 16} {
		t.Run(fmt.Sprint("workers=", w), func(t *testing.T) {
			ds := &slowInts{n: 50, failAt: -1, delay: 200 * time.Microsecond}
			l := NewLoader[int, []int](ds, LoaderConfig{BatchSize: 3, Workers: w, Shuffle: true, Seed: 9}, collectInts)
			got, errs := epochOf(l, context.Background())
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			want := RandomSampler{N: 50, Seed: 9}.Indices(0)
			if !slices.Equal(flat(got), want) {
				t.Fatalf("order %v, want the sampler's %v", flat(got), want)
			}
		})
	}
}

func TestLoaderEpochs(t *testing.T) {
	mk := func(workers int, seed uint64) *Loader[int, []int] {
		return NewLoader[int, []int](&slowInts{n: 30, failAt: -1}, LoaderConfig{BatchSize: 4, Shuffle: true, Seed: seed, Workers: workers}, collectInts)
	}
	a, b, c := mk(0, 1), mk(3, 1), mk(0, 2)
	var prev []int
	for epoch := 0; epoch < 3; epoch++ {
		ea, _ := epochOf(a, context.Background())
		eb, _ := epochOf(b, context.Background())
		ec, _ := epochOf(c, context.Background())
		fa := flat(ea)
		sorted := slices.Sorted(slices.Values(fa))
		for i, v := range sorted {
			if v != i {
				t.Fatalf("epoch %d is not a permutation of 0…29: %v", epoch, fa)
			}
		}
		if !slices.Equal(fa, flat(eb)) {
			t.Fatalf("epoch %d: workers 0 and 3 disagree: %v vs %v", epoch, fa, flat(eb))
		}
		if slices.Equal(fa, flat(ec)) {
			t.Fatalf("epoch %d: seeds 1 and 2 give the same order", epoch)
		}
		if slices.Equal(fa, prev) {
			t.Fatalf("epoch %d repeats the previous epoch's order", epoch)
		}
		prev = fa
	}
	if a.Epoch() != 3 {
		t.Fatalf("Epoch() = %d after three epochs", a.Epoch())
	}
	// resuming at epoch 2 replays epoch 2
	d := mk(2, 1)
	d.SetEpoch(2)
	ed, _ := epochOf(d, context.Background())
	if !slices.Equal(flat(ed), prev) {
		t.Fatalf("SetEpoch(2) gives %v, the third epoch was %v", flat(ed), prev)
	}
}

func TestLoaderError(t *testing.T) {
	for _, w := range []int{0, 1, 4} {
		t.Run(fmt.Sprint("workers=", w), func(t *testing.T) {
			check := goroutines(t)
			ds := &slowInts{n: 40, failAt: 13, delay: 100 * time.Microsecond}
			l := NewLoader[int, []int](ds, LoaderConfig{BatchSize: 4, Workers: w}, collectInts)
			got, errs := epochOf(l, context.Background())
			if len(errs) != 1 {
				t.Fatalf("%d errors, want exactly one: %v", len(errs), errs)
			}
			var se *SampleError
			if !errors.As(errs[0], &se) || se.Index != 13 || !errors.Is(errs[0], errBroken) {
				t.Fatalf("error %v: want a SampleError for index 13 wrapping errBroken", errs[0])
			}
			// batches 0,1,2 hold 0…11; the fourth holds 13
			if want := [][]int{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 10, 11}}; !slices.EqualFunc(got, want, slices.Equal) {
				t.Fatalf("batches before the error %v, want %v", got, want)
			}
			check()
		})
	}
}

func TestLoaderCollateFailures(t *testing.T) {
	ds := FromSlice([]Sample{
		{Input: tensor.Zeros(2), Target: Label(0)},
		{Input: tensor.Zeros(3), Target: Label(1)},
	})
	for _, w := range []int{0, 2} {
		// StackSamples reports the shape mismatch as an error
		l := NewLoader(ds, LoaderConfig{BatchSize: 2, Workers: w}, StackSamples)
		var errs []error
		for _, err := range l.All(context.Background()) {
			errs = append(errs, err)
		}
		if len(errs) != 1 || errs[0] == nil {
			t.Fatalf("workers %d: got %v, want one error", w, errs)
		}
		// a raw tensor.Stack panics with a *tensor.Error: also an error
		raw := NewLoader(ds, LoaderConfig{BatchSize: 2, Workers: w}, func(s []Sample) (*tensor.Tensor, error) {
			return tensor.Stack([]*tensor.Tensor{s[0].Input, s[1].Input}, 0), nil
		})
		errs = nil
		for _, err := range raw.All(context.Background()) {
			errs = append(errs, err)
		}
		if len(errs) != 1 || !errors.Is(errs[0], tensor.ErrShape) {
			t.Fatalf("workers %d: got %v, want one tensor.ErrShape error", w, errs)
		}
	}
}

func TestLoaderPanicReachesConsumer(t *testing.T) {
	for _, w := range []int{0, 3} {
		check := goroutines(t)
		l := NewLoader[int, []int](&slowInts{n: 10, failAt: -1}, LoaderConfig{BatchSize: 2, Workers: w}, func(xs []int) ([]int, error) {
			if xs[0] == 4 {
				panic("boom")
			}
			return xs, nil
		})
		func() {
			defer func() {
				r := recover()
				if w == 0 && r != "boom" {
					t.Fatalf("workers 0: recovered %v, want the original panic", r)
				}
				if p, ok := r.(*WorkerPanic); w > 0 && (!ok || p.Value != "boom") {
					t.Fatalf("workers %d: recovered %#v, want a *WorkerPanic of \"boom\"", w, r)
				}
			}()
			for range l.All(context.Background()) {
			}
			t.Fatalf("workers %d: no panic", w)
		}()
		check()
	}
}

func TestLoaderBreakAndPrefetchBound(t *testing.T) {
	for _, c := range []struct{ workers, prefetch int }{{1, 0}, {2, 1}, {4, 0}, {4, 8}} {
		t.Run(fmt.Sprintf("workers=%d,prefetch=%d", c.workers, c.prefetch), func(t *testing.T) {
			check := goroutines(t)
			ds := &slowInts{n: 1000, failAt: -1}
			l := NewLoader[int, []int](ds, LoaderConfig{BatchSize: 5, Workers: c.workers, Prefetch: c.prefetch}, collectInts)
			prefetch := l.Config().Prefetch
			if c.prefetch == 0 && prefetch != 2*c.workers {
				t.Fatalf("default prefetch %d, want 2·workers", prefetch)
			}
			k := 0
			for b, err := range l.All(context.Background()) {
				if err != nil {
					t.Fatal(err)
				}
				if b[0] != 5*k {
					t.Fatalf("batch %d starts at %d", k, b[0])
				}
				k++
				time.Sleep(20 * time.Millisecond) // let the workers run ahead as far as they may
				if k == 3 {
					break
				}
			}
			check() // All returned: every goroutine it started is gone
			// at most the consumed batches plus Prefetch were loaded
			if calls, limit := ds.calls.Load(), int64((k+prefetch)*5); calls > limit {
				t.Fatalf("%d samples loaded after consuming %d batches; prefetch %d allows %d", calls, k, prefetch, limit)
			}
			if ds.calls.Load() < int64(k*5) {
				t.Fatalf("only %d samples loaded", ds.calls.Load())
			}
		})
	}
}

func TestLoaderCancel(t *testing.T) {
	for _, w := range []int{0, 1, 3} {
		t.Run(fmt.Sprint("workers=", w), func(t *testing.T) {
			check := goroutines(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ds := &slowInts{n: 10000, failAt: -1, delay: 200 * time.Microsecond}
			l := NewLoader[int, []int](ds, LoaderConfig{BatchSize: 4, Workers: w}, collectInts)
			var n int
			var errs []error
			for b, err := range l.All(ctx) {
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if b[0] != 4*n {
					t.Fatalf("batch %d starts at %d", n, b[0])
				}
				n++
				if n == 5 {
					cancel()
				}
			}
			if len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
				t.Fatalf("errors %v, want one context.Canceled", errs)
			}
			if n != 5 {
				t.Fatalf("%d batches after cancelling at 5", n)
			}
			check()
		})
	}
	t.Run("cancelled while waiting", func(t *testing.T) {
		check := goroutines(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		ds := &slowInts{n: 100000, failAt: -1, delay: 3 * time.Millisecond}
		l := NewLoader[int, []int](ds, LoaderConfig{BatchSize: 50, Workers: 2}, collectInts)
		start := time.Now()
		var last error
		for _, err := range l.All(ctx) {
			last = err
		}
		if !errors.Is(last, context.DeadlineExceeded) {
			t.Fatalf("last error %v, want DeadlineExceeded", last)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("stopping took %v", d)
		}
		check()
	})
}

type epochRecorder struct {
	SliceDataset[int]
	epochs []int
}

func (e *epochRecorder) SetEpoch(epoch int) { e.epochs = append(e.epochs, epoch) }

func TestLoaderTellsDatasetTheEpoch(t *testing.T) {
	rec := &epochRecorder{SliceDataset: SliceDataset[int]{Items: []int{1, 2, 3}}}
	ds := Subset[int](Concat[int](rec), []int{0, 2})
	l := NewLoader(Dataset[int](ds), LoaderConfig{}, collectInts)
	l.SetEpoch(5)
	for range 2 {
		for range l.All(context.Background()) {
		}
	}
	if !slices.Equal(rec.epochs, []int{5, 6}) {
		t.Fatalf("epochs %v, want [5 6]", rec.epochs)
	}
}

func TestNewLoaderPanics(t *testing.T) {
	ds := FromSlice([]int{1})
	for name, cfg := range map[string]LoaderConfig{
		"negative batch":    {BatchSize: -1},
		"negative workers":  {Workers: -1},
		"negative prefetch": {Prefetch: -1},
		"shuffle+sampler":   {Shuffle: true, Sampler: SequentialSampler{N: 1}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			NewLoader[int, []int](ds, cfg, collectInts)
		}()
	}
}

// TestLoaderRandomTransformsIndependentOfWorkers checks that augmentation
// depends on (seed, epoch, index) only.
func TestLoaderRandomTransformsIndependentOfWorkers(t *testing.T) {
	var items []Sample
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 24 {
		v := make([]float32, 3*6*6)
		for j := range v {
			v[j] = r.Float32()
		}
		items = append(items, Sample{Input: tensor.FromSlice(v, 3, 6, 6), Target: Label(i % 3)})
	}
	tf := Compose(RandomCrop(6, 2), RandomHorizontalFlip(0.5))
	run := func(workers int) [][]float32 {
		ds := WithTransform(FromSlice(items), tf, 77)
		l := NewLoader(ds, LoaderConfig{BatchSize: 5, Workers: workers, Shuffle: true, Seed: 3}, StackSamples)
		var out [][]float32
		for range 2 {
			for b, err := range l.All(context.Background()) {
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, b.Input.Float32s())
			}
		}
		return out
	}
	a, b := run(0), run(4)
	if !slices.EqualFunc(a, b, slices.Equal) {
		t.Fatal("random transforms differ between 0 and 4 workers")
	}
}

// BenchmarkLoaderEpoch times an epoch with a costly per-sample transform (a
// pure-Go 5×5 box blur, single-threaded like most user code) with and
// without workers; with two cores, two workers should take about half the
// time.
func BenchmarkLoaderEpoch(b *testing.B) {
	var items []Sample
	for i := range 128 {
		items = append(items, Sample{Input: tensor.Full(float64(i%7)/7, 3, 64, 64), Target: Label(i % 10)})
	}
	blur := TransformFunc(func(x *tensor.Tensor) (*tensor.Tensor, error) {
		const r = 2
		s := x.Shape()
		c, h, w := s[0], s[1], s[2]
		in, out := x.Float32s(), make([]float32, c*h*w)
		for ch := range c {
			for y := range h {
				for xx := range w {
					var sum float32
					for dy := -r; dy <= r; dy++ {
						for dx := -r; dx <= r; dx++ {
							yy, xs := min(max(y+dy, 0), h-1), min(max(xx+dx, 0), w-1)
							sum += in[(ch*h+yy)*w+xs]
						}
					}
					out[(ch*h+y)*w+xx] = sum / 25
				}
			}
		}
		return tensor.FromSlice(out, c, h, w), nil
	})
	ds := WithTransform(FromSlice(items), Compose(blur, blur, RandomHorizontalFlip(0.5)), 1)
	for _, w := range []int{0, 2} {
		b.Run(fmt.Sprint("workers=", w), func(b *testing.B) {
			l := NewLoader(ds, LoaderConfig{BatchSize: 16, Workers: w, Shuffle: true}, StackSamples)
			for b.Loop() {
				for _, err := range l.All(context.Background()) {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
