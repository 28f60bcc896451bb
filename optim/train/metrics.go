package train

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"

	"github.com/tapir-ml/tapir/tensor"
)

// Mean is a running weighted mean, such as the mean loss over the batches
// of an epoch: Add each batch's mean loss with its number of samples and
// Value is the mean over all the samples. The zero value is empty and
// ready to use; a Mean is not safe for concurrent use.
type Mean struct {
	sum, weight float64
}

// Add counts value n times (a batch's mean over n samples); n ≤ 0 adds
// nothing.
func (m *Mean) Add(value float64, n int) {
	if n <= 0 {
		return
	}
	m.sum += value * float64(n)
	m.weight += float64(n)
}

// Value returns the mean of what was added, or NaN when nothing was.
func (m *Mean) Value() float64 {
	if m.weight == 0 {
		return math.NaN()
	}
	return m.sum / m.weight
}

// Count returns the number of samples added.
func (m *Mean) Count() int { return int(m.weight) }

// Reset empties the mean.
func (m *Mean) Reset() { *m = Mean{} }

// Accuracy counts correct predictions of a classifier. The zero value is
// empty and ready to use; an Accuracy is not safe for concurrent use.
type Accuracy struct {
	Correct, Total int
}

// Add counts the predictions of one batch: logits (or probabilities) [N,
// C] against class indices target [N]; a prediction is the index of the
// largest of its row's C values (the first one on ties, as torch.argmax).
// It panics with a *tensor.Error when the shapes do not fit.
func (a *Accuracy) Add(logits, target *tensor.Tensor) {
	c := Correct(logits, target)
	a.Correct += c
	a.Total += target.Numel()
}

// Value returns Correct/Total, or NaN when nothing was counted.
func (a *Accuracy) Value() float64 {
	if a.Total == 0 {
		return math.NaN()
	}
	return float64(a.Correct) / float64(a.Total)
}

// Reset empties the counters.
func (a *Accuracy) Reset() { *a = Accuracy{} }

// Correct returns how many rows of logits [N, C] have their largest value
// at the class index target [N] gives.
func Correct(logits, target *tensor.Tensor) int {
	if logits.Dim() != 2 || target.Dim() != 1 || logits.Size(0) != target.Size(0) {
		panic(&tensor.Error{Op: "train.correct", Kind: tensor.ErrShape,
			Msg: fmt.Sprintf("logits %v must be [N, C] and target %v [N]", logits.Shape(), target.Shape())})
	}
	pred := logits.Detach().ArgMax(1).Int64s()
	want := target.Int64s()
	n := 0
	for i, p := range pred {
		if p == want[i] {
			n++
		}
	}
	return n
}

// Metrics is a set of named running means (losses, accuracies, anything
// averaged over samples), kept in the order the names were first added,
// and logged together with log/slog. The zero value is empty and ready to
// use; a Metrics is safe for concurrent use.
type Metrics struct {
	mu    sync.Mutex
	names []string
	means map[string]*Mean
}

// Add adds value, the mean of n samples, to the running mean called name.
func (m *Metrics) Add(name string, value float64, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.means == nil {
		m.means = map[string]*Mean{}
	}
	mean, ok := m.means[name]
	if !ok {
		mean = &Mean{}
		m.means[name] = mean
		m.names = append(m.names, name)
	}
	mean.Add(value, n)
}

// AddAccuracy adds an accuracy's fraction of correct predictions, weighted
// by its total, to the running mean called name.
func (m *Metrics) AddAccuracy(name string, a Accuracy) {
	if a.Total > 0 {
		m.Add(name, a.Value(), a.Total)
	}
}

// Value returns the running mean called name, or NaN when there is none.
func (m *Metrics) Value(name string) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mean, ok := m.means[name]; ok {
		return mean.Value()
	}
	return math.NaN()
}

// Names returns the names in the order they were first added.
func (m *Metrics) Names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.names)
}

// Reset forgets every name and value, as at the start of an epoch.
func (m *Metrics) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.names, m.means = nil, nil
}

// Attrs returns the running means as slog attributes, name=value, in
// order.
func (m *Metrics) Attrs() []slog.Attr {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]slog.Attr, len(m.names))
	for i, n := range m.names {
		out[i] = slog.Float64(n, m.means[n].Value())
	}
	return out
}

// Log writes one record at level Info to logger with msg, the attributes
// args (as slog.Logger.Info takes them) and then the running means. A nil
// logger logs nothing: this package never prints on its own.
func (m *Metrics) Log(logger *slog.Logger, msg string, args ...any) {
	if logger == nil {
		return
	}
	ctx := context.Background()
	if !logger.Enabled(ctx, slog.LevelInfo) {
		return
	}
	for _, a := range m.Attrs() {
		args = append(args, a)
	}
	logger.Log(ctx, slog.LevelInfo, msg, args...)
}
