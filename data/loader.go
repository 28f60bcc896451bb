package data

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/tapir-ml/tapir/tensor"
)

// LoaderConfig configures a Loader. Its zero value loads batches of one
// sample, in order, in the caller's goroutine, as torch's DataLoader does
// by default.
type LoaderConfig struct {
	// BatchSize is the number of samples per batch; 0 means 1.
	BatchSize int
	// Shuffle visits the samples in a new random order each epoch, drawn
	// from Seed and the epoch number. It may not be set with Sampler.
	Shuffle bool
	// DropLast drops the last batch when it is shorter than BatchSize.
	DropLast bool
	// Workers is the number of goroutines that load batches; 0 loads them
	// in the caller's goroutine, as each is asked for.
	Workers int
	// Prefetch is the number of batches that may be loaded ahead of the
	// consumer (with Workers > 0); 0 means 2·Workers.
	Prefetch int
	// Seed makes shuffling reproducible: the same Seed, dataset length
	// and epoch give the same order.
	Seed uint64
	// Sampler, if set, chooses the indices of each epoch instead of
	// Shuffle (e.g. a WeightedRandomSampler or a DistributedSampler).
	Sampler Sampler
}

// Loader turns a Dataset into batches (torch.utils.data.DataLoader). Each
// call of All is one epoch; a pool of worker goroutines loads batches
// ahead of the consumer while All yields them in order.
type Loader[T, B any] struct {
	ds      Dataset[T]
	cfg     LoaderConfig
	collate func([]T) (B, error)
	epoch   atomic.Int64
}

// NewLoader returns a Loader that reads ds with the given configuration
// and makes each batch's samples into a batch with collate (e.g.
// [StackSamples]). collate must be safe for concurrent use when Workers >
// 0. NewLoader panics on an invalid configuration (negative sizes, Shuffle
// together with Sampler, a nil dataset or collate), as these are programmer
// errors.
func NewLoader[T, B any](ds Dataset[T], cfg LoaderConfig, collate func([]T) (B, error)) *Loader[T, B] {
	switch {
	case ds == nil:
		panic("data: loader: nil dataset")
	case collate == nil:
		panic("data: loader: nil collate function")
	case cfg.BatchSize < 0:
		panic(fmt.Sprintf("data: loader: negative batch size %d", cfg.BatchSize))
	case cfg.Workers < 0:
		panic(fmt.Sprintf("data: loader: negative number of workers %d", cfg.Workers))
	case cfg.Prefetch < 0:
		panic(fmt.Sprintf("data: loader: negative prefetch %d", cfg.Prefetch))
	case cfg.Shuffle && cfg.Sampler != nil:
		panic("data: loader: Sampler and Shuffle are mutually exclusive (the sampler decides the order)")
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 1
	}
	if cfg.Prefetch == 0 {
		cfg.Prefetch = 2 * cfg.Workers
	}
	return &Loader[T, B]{ds: ds, cfg: cfg, collate: collate}
}

// Dataset returns the dataset the loader reads.
func (l *Loader[T, B]) Dataset() Dataset[T] { return l.ds }

// Config returns the loader's configuration, with defaults filled in.
func (l *Loader[T, B]) Config() LoaderConfig { return l.cfg }

func (l *Loader[T, B]) batches() BatchSampler {
	s := l.cfg.Sampler
	switch {
	case s != nil:
	case l.cfg.Shuffle:
		s = RandomSampler{N: l.ds.Len(), Seed: l.cfg.Seed}
	default:
		s = SequentialSampler{N: l.ds.Len()}
	}
	return BatchSampler{Sampler: s, Size: l.cfg.BatchSize, DropLast: l.cfg.DropLast}
}

// Len returns the number of batches in an epoch.
func (l *Loader[T, B]) Len() int { return l.batches().Len() }

// Epoch returns the number of the epoch the next call of All starts.
func (l *Loader[T, B]) Epoch() int { return int(l.epoch.Load()) }

// SetEpoch sets the number of the epoch the next call of All starts, e.g.
// when resuming from a checkpoint; later calls count on from there.
func (l *Loader[T, B]) SetEpoch(epoch int) { l.epoch.Store(int64(epoch)) }

// All returns an iterator over the batches of one epoch, in order. The
// epoch number is taken (and the loader's counter advanced) when the
// iteration starts; the dataset is told the epoch if it is an
// [EpochSetter].
//
// With Workers > 0, worker goroutines load up to Prefetch batches ahead of
// the consumer, each batch by one worker. The iteration ends early, after
// every goroutine it started has finished, when the consumer stops (break),
// when ctx is done (yielding ctx.Err() once) or when a sample or collate
// fails (yielding the error once: a *SampleError naming the sample's index
// for a failed At). Errors are reported in batch order, so the same inputs
// give the same error whatever the scheduling. A *tensor.Error panic in At
// or collate becomes an error; any other panic in a worker is raised again
// in the consumer's goroutine as a *WorkerPanic.
func (l *Loader[T, B]) All(ctx context.Context) iter.Seq2[B, error] {
	return func(yield func(B, error) bool) {
		epoch := int(l.epoch.Add(1) - 1)
		setEpoch(l.ds, epoch)
		batches := l.batches().Batches(epoch)
		if l.cfg.Workers == 0 {
			l.serial(ctx, batches, yield)
			return
		}
		l.parallel(ctx, batches, yield)
	}
}

func (l *Loader[T, B]) serial(ctx context.Context, batches [][]int, yield func(B, error) bool) {
	var zero B
	for _, idx := range batches {
		b, err := l.load(ctx, idx, false)
		if err != nil {
			yield(zero, err)
			return
		}
		if !yield(b, nil) {
			return
		}
	}
}

// load reads the samples of one batch and collates them. A *tensor.Error
// panic becomes the error; another panic becomes a *WorkerPanic error in a
// worker and goes on as it is in the caller's goroutine.
func (l *Loader[T, B]) load(ctx context.Context, idx []int, worker bool) (b B, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = recoveredError(r)
			if _, ok := err.(*WorkerPanic); ok && !worker {
				panic(r)
			}
		}
	}()
	samples := make([]T, len(idx))
	for k, i := range idx {
		if err := ctx.Err(); err != nil {
			return b, err
		}
		x, err := l.ds.At(i)
		if err != nil {
			return b, &SampleError{Index: i, Err: err}
		}
		samples[k] = x
	}
	if err := ctx.Err(); err != nil {
		return b, err
	}
	return l.collate(samples)
}

// WorkerPanic is the value a Loader panics with in the consumer's goroutine
// when At or collate panicked in a worker goroutine: Value is what they
// panicked with, Stack the worker's stack at that moment.
type WorkerPanic struct {
	Value any
	Stack []byte
}

// Error gives the panic value and the worker's stack.
func (p *WorkerPanic) Error() string {
	return fmt.Sprintf("data: panic in a loader worker: %v\n\n%s", p.Value, p.Stack)
}

// recoveredError turns a recovered panic into an error: a *tensor.Error
// (a shape or dtype mismatch in collate, say) is returned as is, anything
// else as a *WorkerPanic to be raised again.
func recoveredError(r any) error {
	var te *tensor.Error
	if err, ok := r.(error); ok && errors.As(err, &te) {
		return err
	}
	return &WorkerPanic{Value: r, Stack: debug.Stack()}
}

// safeCollate calls collate, turning a *tensor.Error panic into an error.
func safeCollate[T, B any](collate func([]T) (B, error), xs []T) (b B, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = recoveredError(r)
			if _, ok := err.(*WorkerPanic); ok {
				panic(r)
			}
		}
	}()
	return collate(xs)
}

type result[B any] struct {
	b   B
	err error
}

type job[B any] struct {
	idx []int
	out chan result[B] // buffered 1: a worker never blocks on it
}

func (l *Loader[T, B]) parallel(parent context.Context, batches [][]int, yield func(B, error) bool) {
	ctx, cancel := context.WithCancel(parent)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()

	// pending carries each batch's result channel in batch order; its
	// capacity bounds how far loading runs ahead of the consumer.
	pending := make(chan chan result[B], l.cfg.Prefetch)
	jobs := make(chan job[B])
	wg.Add(1)
	go func() { // dispatcher
		defer wg.Done()
		defer close(pending)
		defer close(jobs)
		for _, idx := range batches {
			out := make(chan result[B], 1)
			select {
			case pending <- out:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- job[B]{idx, out}:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range min(l.cfg.Workers, len(batches)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				b, err := l.load(ctx, j.idx, true)
				j.out <- result[B]{b, err}
			}
		}()
	}

	var zero B
	for out := range pending {
		if err := parent.Err(); err != nil {
			yield(zero, err)
			return
		}
		var r result[B]
		select {
		case r = <-out:
		case <-parent.Done():
			yield(zero, parent.Err())
			return
		}
		if r.err != nil {
			if p, ok := r.err.(*WorkerPanic); ok {
				panic(p)
			}
			yield(zero, r.err)
			return
		}
		if !yield(r.b, nil) {
			return
		}
	}
	// the dispatcher closes pending early only when ctx is done, which
	// before this point can only come from the parent
	if err := parent.Err(); err != nil {
		yield(zero, err)
	}
}
