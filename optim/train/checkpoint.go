package train

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/tensor/safetensors"
)

// StateDicter is anything whose state round-trips through a flat state
// dict: optimizers and the schedulers of package optim.
type StateDicter interface {
	StateDict() map[string]*tensor.Tensor
	LoadStateDict(sd map[string]*tensor.Tensor) error
}

// Checkpoint is what training needs to go on exactly where it stopped:
// the model, the optimizer, the scheduler, the counters, the random
// generators' states and the recorded curves. [SaveCheckpoint] writes the
// parts that are set; [LoadCheckpoint] restores them into the parts that
// are set.
type Checkpoint struct {
	// Model's parameters and buffers (nn.StateDict).
	Model nn.Module
	// Optimizer's state (moments, step counts, options, LRs).
	Optimizer optim.Optimizer
	// Scheduler's counters, if there is one: any optim scheduler (StepLR,
	// OneCycleLR, ReduceLROnPlateau…) or other StateDicter.
	Scheduler StateDicter
	// Epoch and Step are the caller's counters, saved as they are: the
	// usual choice is the number of epochs and of optimizer steps
	// completed, from which a data.Loader's SetEpoch and the number of
	// batches to skip follow.
	Epoch, Step int
	// Generators are random generators saved and restored besides
	// tensor.DefaultGenerator(), which always is: a Dropout's own
	// generator, say. LoadCheckpoint restores them in the same order.
	Generators []*tensor.Generator
	// Extra holds named numbers (the best accuracy so far, a data
	// position…). LoadCheckpoint replaces it with the saved ones.
	Extra map[string]float64
	// History, when set, is saved and restored with its series.
	History *History
}

// The names under which a checkpoint file stores its parts.
const (
	modelPrefix   = "model."
	optimPrefix   = "optim."
	schedPrefix   = "sched."
	extraPrefix   = "extra."
	historyPrefix = "history."

	metaFormat  = "format"
	formatValue = "tapir.checkpoint.v1"
	metaEpoch   = "epoch"
	metaStep    = "step"
	metaRNG     = "rng.default"
	metaRNGN    = "rng.count"
	metaHistory = "history.names"
)

// SaveCheckpoint writes ck to path as one safetensors file, atomically:
// until the new file is complete and synced the old one (if any) stays
// whole, so a crash mid-write never loses the last checkpoint.
//
// The file holds the model's state dict under "model." (model.fc.weight,
// …, in state-dict order), the optimizer's under "optim.", the
// scheduler's under "sched.", each Extra value as a 0-d Float64 tensor
// "extra.NAME" and each History series as a Float64 tensor
// "history.NAME" of (step, value) rows. The string metadata holds
// "format" ("tapir.checkpoint.v1"), "epoch", "step", the generators'
// states "rng.default", "rng.count" and "rng.0", "rng.1"… (each "SEED
// OFFSET" in decimal) and "history.names", the series' names in order.
// Any safetensors reader can open it; the model's tensors are those
// nn.Save would write, with the prefix.
func SaveCheckpoint(path string, ck Checkpoint) error {
	sd := map[string]*tensor.Tensor{}
	var order []string
	add := func(prefix string, part map[string]*tensor.Tensor, keys []string) {
		if keys == nil {
			keys = slices.Sorted(maps.Keys(part))
		}
		for _, k := range keys {
			sd[prefix+k] = part[k]
			order = append(order, prefix+k)
		}
	}
	if ck.Model != nil {
		add(modelPrefix, nn.StateDict(ck.Model), nn.StateDictKeys(ck.Model))
	}
	if ck.Optimizer != nil {
		add(optimPrefix, ck.Optimizer.StateDict(), nil)
	}
	if ck.Scheduler != nil {
		add(schedPrefix, ck.Scheduler.StateDict(), nil)
	}
	extra := map[string]*tensor.Tensor{}
	for k, v := range ck.Extra {
		extra[k] = tensor.FromSlice([]float64{v}, []int{}...)
	}
	add(extraPrefix, extra, nil)

	meta := map[string]string{
		metaFormat: formatValue,
		metaEpoch:  strconv.Itoa(ck.Epoch),
		metaStep:   strconv.Itoa(ck.Step),
		metaRNG:    genState(tensor.DefaultGenerator()),
		metaRNGN:   strconv.Itoa(len(ck.Generators)),
	}
	for i, g := range ck.Generators {
		if g == nil {
			return fmt.Errorf("train: save checkpoint %s: generator %d is nil", path, i)
		}
		meta[fmt.Sprintf("rng.%d", i)] = genState(g)
	}
	if ck.History != nil {
		names := ck.History.Names()
		hist := map[string]*tensor.Tensor{}
		for _, n := range names {
			pts := ck.History.Series(n)
			v := make([]float64, 0, 2*len(pts))
			for _, p := range pts {
				v = append(v, float64(p.Step), p.Value)
			}
			hist[n] = tensor.FromSlice(v, len(pts), 2)
		}
		add(historyPrefix, hist, names)
		meta[metaHistory] = strings.Join(quoteAll(names), ",")
	}
	if err := safetensors.Save(path, sd, order, meta); err != nil {
		return fmt.Errorf("train: save checkpoint %s: %w", path, err)
	}
	return nil
}

func genState(g *tensor.Generator) string {
	seed, off := g.State()
	return strconv.FormatUint(seed, 10) + " " + strconv.FormatUint(off, 10)
}

func parseGenState(s string) (seed, off uint64, err error) {
	a, b, ok := strings.Cut(s, " ")
	if ok {
		if seed, err = strconv.ParseUint(a, 10, 64); err == nil {
			off, err = strconv.ParseUint(b, 10, 64)
		}
	}
	if !ok || err != nil {
		return 0, 0, fmt.Errorf("generator state %q is not \"SEED OFFSET\"", s)
	}
	return seed, off, nil
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// LoadCheckpoint reads a file written by SaveCheckpoint into ck: the
// model's state into ck.Model, the optimizer's into ck.Optimizer, the
// scheduler's into ck.Scheduler, the states of tensor.DefaultGenerator()
// and of ck.Generators (which must be as many as were saved), the series
// into ck.History (replacing its contents), and ck.Epoch, ck.Step and
// ck.Extra. A part whose field is nil is not restored (a model loaded for
// evaluation needs no optimizer); a field that is set whose part the file
// lacks is an error.
//
// Everything is checked before anything changes where that can be done
// (the metadata, the generator count), and a model, optimizer or
// scheduler that was restored before a later part failed is put back as
// it was: on error, ck's objects are unchanged. The model and optimizer
// report every missing, unexpected and mismatched key at once
// (*nn.LoadError, *optim.LoadError).
func LoadCheckpoint(path string, ck *Checkpoint) error {
	if err := loadCheckpoint(path, ck); err != nil {
		return fmt.Errorf("train: load checkpoint %s: %w", path, err)
	}
	return nil
}

func loadCheckpoint(path string, ck *Checkpoint) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	meta := f.Metadata()
	if meta[metaFormat] != formatValue {
		return fmt.Errorf("not a checkpoint (metadata format %q, want %q)", meta[metaFormat], formatValue)
	}
	epoch, err := strconv.Atoi(meta[metaEpoch])
	if err != nil {
		return fmt.Errorf("metadata epoch: %w", err)
	}
	step, err := strconv.Atoi(meta[metaStep])
	if err != nil {
		return fmt.Errorf("metadata step: %w", err)
	}
	type rngState struct{ seed, off uint64 }
	var gens []rngState
	seed, off, err := parseGenState(meta[metaRNG])
	if err != nil {
		return fmt.Errorf("metadata %s: %w", metaRNG, err)
	}
	gens = append(gens, rngState{seed, off})
	n, err := strconv.Atoi(meta[metaRNGN])
	if err != nil || n < 0 {
		return fmt.Errorf("metadata %s %q is not a count", metaRNGN, meta[metaRNGN])
	}
	if n != len(ck.Generators) {
		return fmt.Errorf("the checkpoint holds %d generators besides the default one, and %d were passed to restore", n, len(ck.Generators))
	}
	for i := range n {
		k := fmt.Sprintf("rng.%d", i)
		seed, off, err := parseGenState(meta[k])
		if err != nil {
			return fmt.Errorf("metadata %s: %w", k, err)
		}
		gens = append(gens, rngState{seed, off})
	}
	var histNames []string
	if ck.History != nil {
		s, ok := meta[metaHistory]
		if !ok {
			return errors.New("the checkpoint holds no history")
		}
		if histNames, err = unquoteAll(s); err != nil {
			return fmt.Errorf("metadata %s: %w", metaHistory, err)
		}
	}

	// read every tensor, by part
	parts := map[string]map[string]*tensor.Tensor{}
	for _, p := range []string{modelPrefix, optimPrefix, schedPrefix, extraPrefix, historyPrefix} {
		parts[p] = map[string]*tensor.Tensor{}
	}
	for _, name := range f.Names() {
		prefix, _, ok := strings.Cut(name, ".")
		part := parts[prefix+"."]
		if !ok || part == nil {
			return fmt.Errorf("tensor %q belongs to no part of a checkpoint", name)
		}
		t, err := f.Tensor(name)
		if err != nil {
			return err
		}
		part[strings.TrimPrefix(name, prefix+".")] = t
	}
	extra := map[string]float64{}
	for k, t := range parts[extraPrefix] {
		if t.Numel() != 1 {
			return fmt.Errorf("extra value %q has shape %v, want []", k, t.Shape())
		}
		extra[k] = t.Item()
	}
	hist := map[string][]Point{}
	for _, name := range histNames {
		t, ok := parts[historyPrefix][name]
		if !ok {
			return fmt.Errorf("history series %q is missing", name)
		}
		if t.Dim() != 2 || t.Size(1) != 2 {
			return fmt.Errorf("history series %q has shape %v, want [n, 2]", name, t.Shape())
		}
		v := t.Float64s()
		pts := make([]Point, t.Size(0))
		for i := range pts {
			pts[i] = Point{int(v[2*i]), v[2*i+1]}
		}
		hist[name] = pts
	}

	// restore, undoing on failure
	var undo []func()
	fail := func(err error) error {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		return err
	}
	if ck.Model != nil {
		if len(parts[modelPrefix]) == 0 {
			return errors.New("the checkpoint holds no model")
		}
		old := cloneAll(nn.StateDict(ck.Model))
		if err := nn.LoadStateDict(ck.Model, parts[modelPrefix], true); err != nil {
			return fmt.Errorf("model: %w", err)
		}
		undo = append(undo, func() { _ = nn.LoadStateDict(ck.Model, old, true) })
	}
	if ck.Optimizer != nil {
		if len(parts[optimPrefix]) == 0 {
			return fail(errors.New("the checkpoint holds no optimizer state"))
		}
		old := cloneAll(ck.Optimizer.StateDict())
		if err := ck.Optimizer.LoadStateDict(parts[optimPrefix]); err != nil {
			return fail(fmt.Errorf("optimizer: %w", err))
		}
		undo = append(undo, func() { _ = ck.Optimizer.LoadStateDict(old) })
	}
	if ck.Scheduler != nil {
		if len(parts[schedPrefix]) == 0 {
			return fail(errors.New("the checkpoint holds no scheduler state"))
		}
		if err := ck.Scheduler.LoadStateDict(parts[schedPrefix]); err != nil {
			return fail(fmt.Errorf("scheduler: %w", err))
		}
	}

	tensor.DefaultGenerator().SetState(gens[0].seed, gens[0].off)
	for i, g := range ck.Generators {
		g.SetState(gens[i+1].seed, gens[i+1].off)
	}
	if ck.History != nil {
		h := ck.History
		h.mu.Lock()
		h.names, h.series = histNames, hist
		h.mu.Unlock()
	}
	ck.Epoch, ck.Step, ck.Extra = epoch, step, extra
	return nil
}

func unquoteAll(s string) ([]string, error) {
	var out []string
	for s != "" {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return nil, err
		}
		v, _ := strconv.Unquote(q)
		out = append(out, v)
		s = strings.TrimPrefix(s[len(q):], ",")
	}
	return out, nil
}

func cloneAll(sd map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	out := make(map[string]*tensor.Tensor, len(sd))
	for k, t := range sd {
		if t != nil {
			out[k] = t.Detach().Clone()
		}
	}
	return out
}
