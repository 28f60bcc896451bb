package data

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sort"
)

// Dataset is a map-style dataset, torch.utils.data.Dataset: a fixed number
// of samples addressed by index. At must be safe for concurrent use when a
// Loader reads the dataset with Workers > 0, and reports a failure (a file
// that cannot be read, a transform that does not apply) as an error.
type Dataset[T any] interface {
	Len() int
	At(i int) (T, error)
}

// IterableDataset is an iterator-style dataset, torch's IterableDataset: a
// stream of samples with no random access, such as lines read from a
// socket or records generated on the fly. All yields the samples in order;
// an error is yielded once and ends the stream. Each call starts a new
// pass.
type IterableDataset[T any] interface {
	All(ctx context.Context) iter.Seq2[T, error]
}

// EpochSetter is implemented by datasets whose samples depend on the epoch,
// such as those with random augmentation ([WithTransform], [ImageFolder]).
// A Loader calls SetEpoch before each pass; the wrappers of this package
// (Subset, Concat, Map) pass it on to the datasets they wrap.
type EpochSetter interface {
	SetEpoch(epoch int)
}

// ErrOutOfRange is wrapped by the errors At returns for an index outside
// [0, Len()).
var ErrOutOfRange = errors.New("index out of range")

func checkIndex(i, n int) error {
	if i < 0 || i >= n {
		return fmt.Errorf("data: index %d: %w [0, %d)", i, ErrOutOfRange, n)
	}
	return nil
}

func setEpoch(ds any, epoch int) {
	if s, ok := ds.(EpochSetter); ok {
		s.SetEpoch(epoch)
	}
}

// SampleError is the error a Loader yields when a sample cannot be loaded:
// Index is the dataset index of the sample, Err what At returned.
type SampleError struct {
	Index int
	Err   error
}

// Error says which sample failed and why.
func (e *SampleError) Error() string {
	return fmt.Sprintf("data: sample %d: %v", e.Index, e.Err)
}

// Unwrap returns the error At returned.
func (e *SampleError) Unwrap() error { return e.Err }

// SliceDataset is a Dataset over the items of a slice.
type SliceDataset[T any] struct {
	Items []T
}

// FromSlice returns a Dataset whose samples are items (not copied).
func FromSlice[T any](items []T) *SliceDataset[T] { return &SliceDataset[T]{Items: items} }

// Len returns len(Items).
func (d *SliceDataset[T]) Len() int { return len(d.Items) }

// At returns Items[i].
func (d *SliceDataset[T]) At(i int) (T, error) {
	if err := checkIndex(i, len(d.Items)); err != nil {
		var zero T
		return zero, err
	}
	return d.Items[i], nil
}

type indexDataset int

func (d indexDataset) Len() int { return int(d) }

func (d indexDataset) At(i int) (int, error) {
	if err := checkIndex(i, int(d)); err != nil {
		return 0, err
	}
	return i, nil
}

// Indices returns the Dataset of the integers 0…n-1, each sample its own
// index. With a Loader over it, the collate function receives the indices
// of a batch and can build the batch directly from arrays in memory, which
// is how [MNISTDataset.Batch] is meant to be used:
//
//	l := data.NewLoader(data.Indices(ds.Len()), cfg, ds.Batch)
func Indices(n int) Dataset[int] {
	if n < 0 {
		panic(fmt.Sprintf("data: indices: negative length %d", n))
	}
	return indexDataset(n)
}

// SubsetDataset is the samples of Source at Indices, in that order
// (torch.utils.data.Subset).
type SubsetDataset[T any] struct {
	Source  Dataset[T]
	Indices []int
}

// Subset returns the samples of ds at indices, in their order. Indices are
// checked when a sample is read.
func Subset[T any](ds Dataset[T], indices []int) *SubsetDataset[T] {
	return &SubsetDataset[T]{Source: ds, Indices: indices}
}

// Len returns len(Indices).
func (d *SubsetDataset[T]) Len() int { return len(d.Indices) }

// At returns Source.At(Indices[i]).
func (d *SubsetDataset[T]) At(i int) (T, error) {
	if err := checkIndex(i, len(d.Indices)); err != nil {
		var zero T
		return zero, err
	}
	return d.Source.At(d.Indices[i])
}

// SetEpoch passes the epoch on to Source.
func (d *SubsetDataset[T]) SetEpoch(epoch int) { setEpoch(d.Source, epoch) }

// ConcatDataset is several datasets one after another
// (torch.utils.data.ConcatDataset).
type ConcatDataset[T any] struct {
	Parts []Dataset[T]
	ends  []int // cumulative lengths
}

// Concat returns the samples of parts one after another. The lengths of the
// parts are read once, here.
func Concat[T any](parts ...Dataset[T]) *ConcatDataset[T] {
	d := &ConcatDataset[T]{Parts: parts, ends: make([]int, len(parts))}
	n := 0
	for i, p := range parts {
		n += p.Len()
		d.ends[i] = n
	}
	return d
}

// Len returns the sum of the parts' lengths.
func (d *ConcatDataset[T]) Len() int {
	if len(d.ends) == 0 {
		return 0
	}
	return d.ends[len(d.ends)-1]
}

// At returns sample i of the concatenation.
func (d *ConcatDataset[T]) At(i int) (T, error) {
	if err := checkIndex(i, d.Len()); err != nil {
		var zero T
		return zero, err
	}
	p := sort.SearchInts(d.ends, i+1)
	start := 0
	if p > 0 {
		start = d.ends[p-1]
	}
	return d.Parts[p].At(i - start)
}

// SetEpoch passes the epoch on to every part.
func (d *ConcatDataset[T]) SetEpoch(epoch int) {
	for _, p := range d.Parts {
		setEpoch(p, epoch)
	}
}

type mapDataset[T, U any] struct {
	src Dataset[T]
	fn  func(T) (U, error)
}

// Map returns the dataset whose sample i is fn applied to ds's sample i,
// computed when the sample is read. fn must be safe for concurrent use
// when a Loader with workers reads the result.
func Map[T, U any](ds Dataset[T], fn func(T) (U, error)) Dataset[U] {
	return &mapDataset[T, U]{src: ds, fn: fn}
}

func (d *mapDataset[T, U]) Len() int { return d.src.Len() }

func (d *mapDataset[T, U]) At(i int) (U, error) {
	x, err := d.src.At(i)
	if err != nil {
		var zero U
		return zero, err
	}
	return d.fn(x)
}

func (d *mapDataset[T, U]) SetEpoch(epoch int) { setEpoch(d.src, epoch) }

// RandomSplit splits ds into non-overlapping random subsets of the given
// lengths (torch.utils.data.random_split), which must sum to ds.Len(). The
// split is a permutation drawn from seed, so the same seed gives the same
// split.
func RandomSplit[T any](ds Dataset[T], lengths []int, seed uint64) ([]*SubsetDataset[T], error) {
	total := 0
	for _, n := range lengths {
		if n < 0 {
			return nil, fmt.Errorf("data: random split: negative length in %v", lengths)
		}
		total += n
	}
	if total != ds.Len() {
		return nil, fmt.Errorf("data: random split: lengths %v sum to %d, but the dataset has %d samples", lengths, total, ds.Len())
	}
	perm := permutation(ds.Len(), seed, 0)
	out := make([]*SubsetDataset[T], len(lengths))
	off := 0
	for i, n := range lengths {
		out[i] = Subset(ds, perm[off:off+n:off+n])
		off += n
	}
	return out, nil
}

// IterableFunc adapts a function to an IterableDataset.
type IterableFunc[T any] func(ctx context.Context) iter.Seq2[T, error]

// All calls f.
func (f IterableFunc[T]) All(ctx context.Context) iter.Seq2[T, error] { return f(ctx) }

// Iterate returns ds as an IterableDataset that yields its samples in index
// order, stopping at the first error or when ctx is done (yielding
// ctx.Err()).
func Iterate[T any](ds Dataset[T]) IterableDataset[T] {
	return IterableFunc[T](func(ctx context.Context) iter.Seq2[T, error] {
		return func(yield func(T, error) bool) {
			var zero T
			for i := 0; i < ds.Len(); i++ {
				if err := ctx.Err(); err != nil {
					yield(zero, err)
					return
				}
				x, err := ds.At(i)
				if err != nil {
					yield(zero, &SampleError{Index: i, Err: err})
					return
				}
				if !yield(x, nil) {
					return
				}
			}
		}
	})
}

// Batched groups the samples of an IterableDataset into batches of size
// samples (the last one shorter unless dropLast) and collates each, in the
// caller's goroutine. An error from src or collate is yielded once and ends
// the stream.
func Batched[T, B any](src IterableDataset[T], size int, dropLast bool, collate func([]T) (B, error)) IterableDataset[B] {
	if size <= 0 {
		panic(fmt.Sprintf("data: batched: batch size %d must be positive", size))
	}
	return IterableFunc[B](func(ctx context.Context) iter.Seq2[B, error] {
		return func(yield func(B, error) bool) {
			var zero B
			buf := make([]T, 0, size)
			emit := func() bool {
				b, err := safeCollate(collate, buf)
				buf = make([]T, 0, size)
				if err != nil {
					yield(zero, err)
					return false
				}
				return yield(b, nil)
			}
			for x, err := range src.All(ctx) {
				if err != nil {
					yield(zero, err)
					return
				}
				buf = append(buf, x)
				if len(buf) == size && !emit() {
					return
				}
			}
			if len(buf) > 0 && !dropLast {
				emit()
			}
		}
	})
}
