package train_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/data"
	"github.com/tapir-ml/tapir/nn"
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/optim/train"
	"github.com/tapir-ml/tapir/tensor"
)

// net is a small classifier with every kind of state a checkpoint must
// carry: parameters, BatchNorm buffers, and a Dropout with its own
// generator.
type net struct {
	FC1  *nn.Linear
	BN   *nn.BatchNorm1d
	Drop *nn.Dropout
	FC2  *nn.Linear
}

func (m *net) Forward(x *tensor.Tensor) *tensor.Tensor {
	return m.FC2.Forward(m.Drop.Forward(m.BN.Forward(m.FC1.Forward(x)).ReLU()))
}

const (
	nSamples  = 40
	nFeatures = 6
	nClasses  = 3
	batchSize = 8 // 5 batches per epoch
)

// toyData is a fixed classification problem.
func toyData() (x []float32, y []int64) {
	g := tensor.NewGenerator(2024)
	x = g.Randn(nSamples, nFeatures).Float32s()
	for i := range nSamples {
		s := x[i*nFeatures] + 2*x[i*nFeatures+1] - x[i*nFeatures+2]
		switch {
		case s < -0.5:
			y = append(y, 0)
		case s < 0.5:
			y = append(y, 1)
		default:
			y = append(y, 2)
		}
	}
	return x, y
}

// session is one process's training state.
type session struct {
	model   *net
	dropGen *tensor.Generator
	opt     *optim.Adam
	sched   *optim.StepLR
	loader  *data.Loader[int, data.Sample]
	all     data.Sample // every sample, for the evaluation loss
	// epochShift is added to the loader's epoch (0 but in a control).
	epochShift int
}

// newSession builds the model (from initSeed), optimizer, scheduler and a
// shuffling loader, as a fresh process would.
func newSession(initSeed, dropSeed uint64) *session {
	x, y := toyData()
	collate := func(idx []int) (data.Sample, error) {
		xb := make([]float32, 0, len(idx)*nFeatures)
		yb := make([]int64, 0, len(idx))
		for _, i := range idx {
			xb = append(xb, x[i*nFeatures:(i+1)*nFeatures]...)
			yb = append(yb, y[i])
		}
		return data.Sample{Input: tensor.FromSlice(xb, len(idx), nFeatures), Target: tensor.FromSlice(yb)}, nil
	}
	tensor.ManualSeed(initSeed)
	s := &session{dropGen: tensor.NewGenerator(dropSeed)}
	s.model = &net{
		FC1:  nn.NewLinear(nFeatures, 16),
		BN:   nn.NewBatchNorm1d(16),
		Drop: nn.NewDropout(0.3, s.dropGen),
		FC2:  nn.NewLinear(16, nClasses),
	}
	s.opt = optim.NewAdam(nn.Parameters(s.model), optim.AdamConfig{LR: 0.05})
	s.sched = optim.NewStepLR(s.opt, 4, 0.7)
	s.loader = data.NewLoader(data.Indices(nSamples), data.LoaderConfig{BatchSize: batchSize, Shuffle: true, Seed: 99}, collate)
	every := make([]int, nSamples)
	for i := range every {
		every[i] = i
	}
	s.all, _ = collate(every)
	return s
}

// run trains from step `from` to step `to` (exclusive) and returns the
// losses' bits, followed by the loss on all the data in eval mode (which
// uses BatchNorm's running statistics). The data position follows from
// the step: epoch step/batches, batch step%batches. Each step also draws
// input noise from the default generator.
func (s *session) run(t *testing.T, from, to int) []uint64 {
	t.Helper()
	nb := s.loader.Len()
	var losses []uint64
	step := from
	s.loader.SetEpoch(from/nb + s.epochShift)
	for step < to {
		skip := step % nb
		for b, err := range s.loader.All(context.Background()) {
			if err != nil {
				t.Fatal(err)
			}
			if skip > 0 {
				skip--
				continue
			}
			noisy := b.Input.Add(tensor.Randn(b.Input.Shape()...).MulScalar(0.05))
			s.opt.ZeroGrad()
			loss := F.CrossEntropy(s.model.Forward(noisy), b.Target)
			loss.Backward()
			s.opt.Step()
			s.sched.Step()
			losses = append(losses, math.Float64bits(loss.Item()))
			step++
			if step == to {
				break
			}
		}
	}
	nn.Eval(s.model)
	eval := F.CrossEntropy(s.model.Forward(s.all.Input), s.all.Target)
	nn.Train(s.model)
	return append(losses, math.Float64bits(eval.Item()))
}

// TestResumeBitForBit trains N steps without stopping, then M steps,
// a checkpoint, a fresh process state (new model, optimizer, scheduler,
// loader and generators, all seeded differently), LoadCheckpoint and N−M
// more steps: the losses must be the same bits. M falls in the middle of
// an epoch, so the loader's shuffle order must be restored too.
func TestResumeBitForBit(t *testing.T) {
	const n, m = 17, 7
	want := newSession(1, 5).run(t, 0, n)
	if len(want) != n+1 {
		t.Fatalf("%d losses, want %d", len(want), n+1)
	}
	if math.Float64frombits(want[n-1]) >= math.Float64frombits(want[0]) {
		t.Fatalf("the loss did not fall (%v → %v): the toy problem is not training",
			math.Float64frombits(want[0]), math.Float64frombits(want[n-1]))
	}

	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	a := newSession(1, 5)
	first := a.run(t, 0, m)
	if !slices.Equal(first[:m], want[:m]) {
		t.Fatalf("the first %d steps differ from the uninterrupted run", m)
	}
	err := train.SaveCheckpoint(path, train.Checkpoint{Model: a.model, Optimizer: a.opt, Scheduler: a.sched,
		Epoch: m / a.loader.Len(), Step: m, Generators: []*tensor.Generator{a.dropGen}, Extra: map[string]float64{"lr": a.sched.LastLR()[0]}})
	if err != nil {
		t.Fatal(err)
	}

	resume := func(t *testing.T, sabotage func(*session)) []uint64 {
		b := newSession(77, 123) // another process: other weights, other streams
		tensor.Randn(1000)       // and the default generator elsewhere
		ck := train.Checkpoint{Model: b.model, Optimizer: b.opt, Scheduler: b.sched, Generators: []*tensor.Generator{b.dropGen}}
		if err := train.LoadCheckpoint(path, &ck); err != nil {
			t.Fatal(err)
		}
		if ck.Step != m || ck.Epoch != 1 || ck.Extra["lr"] != a.sched.LastLR()[0] {
			t.Fatalf("restored step %d, epoch %d, extra %v; want %d, 1, lr=%v", ck.Step, ck.Epoch, ck.Extra, m, a.sched.LastLR()[0])
		}
		if sabotage != nil {
			sabotage(b)
		}
		return b.run(t, ck.Step, n)
	}
	if got := resume(t, nil); !slices.Equal(got, want[m:]) {
		t.Errorf("resumed losses differ from the uninterrupted run's:\n got %v\nwant %v", floats(got), floats(want[m:]))
	}

	// Controls: the comparison is sharp enough to see each piece of state
	// that a resume could get wrong.
	for _, c := range []struct {
		name     string
		sabotage func(*session)
	}{
		{"dropout generator not restored", func(s *session) { s.dropGen.ManualSeed(5) }},
		{"default generator not restored", func(s *session) { tensor.ManualSeed(1) }},
		{"BatchNorm running stats lost", func(s *session) { s.model.BN.RunningMean.Tensor.CopyIn(tensor.Zeros(16)) }},
		{"scheduler not restored", func(s *session) { s.sched.Step() }},
		{"loader epoch not restored", func(s *session) { s.epochShift = -1 }},
	} {
		if got := resume(t, c.sabotage); slices.Equal(got, want[m:]) {
			t.Errorf("control %q: the losses still match, so the test cannot see that state", c.name)
		}
	}
}

func floats(bits []uint64) []float64 {
	out := make([]float64, len(bits))
	for i, b := range bits {
		out[i] = math.Float64frombits(b)
	}
	return out
}

// header reads a safetensors file's JSON header with nothing but the
// format's definition: an 8-byte little-endian length, then JSON.
func header(t *testing.T, path string) map[string]json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b[:8])
	var h map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestCheckpointLayout(t *testing.T) {
	s := newSession(1, 5)
	s.run(t, 0, 2)
	var hist train.History
	hist.Add(1, "train/loss", 1.5)
	hist.Add(2, "train/loss", 1.25)
	hist.Add(2, "test/acc", 0.5)
	tensor.DefaultGenerator().SetState(12345678901234567890, 42)
	s.dropGen.SetState(7, 8)
	path := filepath.Join(t.TempDir(), "ck.safetensors")
	err := train.SaveCheckpoint(path, train.Checkpoint{Model: s.model, Optimizer: s.opt, Scheduler: s.sched,
		Epoch: 3, Step: 2, Generators: []*tensor.Generator{s.dropGen}, Extra: map[string]float64{"best": 0.75}, History: &hist})
	if err != nil {
		t.Fatal(err)
	}
	h := header(t, path)
	var meta map[string]string
	if err := json.Unmarshal(h["__metadata__"], &meta); err != nil {
		t.Fatal(err)
	}
	wantMeta := map[string]string{
		"format": "tapir.checkpoint.v1", "epoch": "3", "step": "2",
		"rng.default": "12345678901234567890 42", "rng.count": "1", "rng.0": "7 8",
		"history.names": `"train/loss","test/acc"`,
	}
	for k, v := range wantMeta {
		if meta[k] != v {
			t.Errorf("metadata %q = %q, want %q", k, meta[k], v)
		}
	}
	for _, k := range []string{"model.fc1.weight", "model.bn.running_mean", "model.bn.num_batches_tracked", "model.fc2.bias",
		"optim.state.0.exp_avg", "optim.param_groups.0.lr", "sched.last_epoch", "extra.best", "history.train/loss", "history.test/acc"} {
		if _, ok := h[k]; !ok {
			t.Errorf("no tensor %q in the file", k)
		}
	}
	var extra struct {
		DType string `json:"dtype"`
		Shape []int  `json:"shape"`
	}
	if err := json.Unmarshal(h["extra.best"], &extra); err != nil || extra.DType != "F64" || len(extra.Shape) != 0 {
		t.Errorf("extra.best is %s, want a 0-d F64 tensor", h["extra.best"])
	}

	// everything comes back
	tensor.ManualSeed(0)
	gen := tensor.NewGenerator(0)
	var got train.History
	got.Add(99, "stale", 1)
	ck := train.Checkpoint{Generators: []*tensor.Generator{gen}, History: &got}
	if err := train.LoadCheckpoint(path, &ck); err != nil {
		t.Fatal(err)
	}
	if seed, off := tensor.DefaultGenerator().State(); seed != 12345678901234567890 || off != 42 {
		t.Errorf("default generator state (%d, %d), want (12345678901234567890, 42)", seed, off)
	}
	if seed, off := gen.State(); seed != 7 || off != 8 {
		t.Errorf("generator state (%d, %d), want (7, 8)", seed, off)
	}
	if ck.Epoch != 3 || ck.Step != 2 || ck.Extra["best"] != 0.75 {
		t.Errorf("epoch %d, step %d, extra %v", ck.Epoch, ck.Step, ck.Extra)
	}
	if !slices.Equal(got.Names(), []string{"train/loss", "test/acc"}) ||
		!slices.Equal(got.Series("train/loss"), []train.Point{{1, 1.5}, {2, 1.25}}) ||
		!slices.Equal(got.Series("test/acc"), []train.Point{{2, 0.5}}) {
		t.Errorf("history %v: %v %v", got.Names(), got.Series("train/loss"), got.Series("test/acc"))
	}
}

func TestLoadCheckpointErrors(t *testing.T) {
	dir := t.TempDir()
	s := newSession(1, 5)
	s.run(t, 0, 2)
	path := filepath.Join(dir, "ck.safetensors")
	if err := train.SaveCheckpoint(path, train.Checkpoint{Model: s.model, Optimizer: s.opt, Step: 2}); err != nil {
		t.Fatal(err)
	}
	if err := nn.Save(filepath.Join(dir, "model.safetensors"), s.model); err != nil {
		t.Fatal(err)
	}

	// a model whose optimizer does not fit: the model must come back unchanged
	other := newSession(3, 5)
	before := snapshot(other.model)
	wrongOpt := optim.NewAdam(nn.Parameters(other.model)[:2], optim.AdamConfig{})
	err := train.LoadCheckpoint(path, &train.Checkpoint{Model: other.model, Optimizer: wrongOpt})
	var le *optim.LoadError
	if !errors.As(err, &le) {
		t.Errorf("optimizer of other parameters: %v, want an *optim.LoadError", err)
	}
	if !sameState(before, snapshot(other.model)) {
		t.Error("the model changed although the load failed")
	}

	for _, tc := range []struct {
		name string
		path string
		ck   train.Checkpoint
		want string
	}{
		{"not a checkpoint", filepath.Join(dir, "model.safetensors"), train.Checkpoint{Model: other.model}, "not a checkpoint"},
		{"missing file", filepath.Join(dir, "nope"), train.Checkpoint{Model: other.model}, "no such file"},
		{"generator count", path, train.Checkpoint{Model: other.model, Generators: []*tensor.Generator{tensor.NewGenerator(1)}}, "generators"},
		{"no scheduler saved", path, train.Checkpoint{Model: other.model, Scheduler: other.sched}, "no scheduler"},
		{"no history saved", path, train.Checkpoint{History: &train.History{}}, "no history"},
		{"another model", path, train.Checkpoint{Model: nn.NewLinear(2, 2)}, "model"},
	} {
		before := snapshot(other.model)
		err := train.LoadCheckpoint(tc.path, &tc.ck)
		if err == nil || !strings.HasPrefix(err.Error(), "train: load checkpoint ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a train: load checkpoint error mentioning %q", tc.name, err, tc.want)
		}
		if !sameState(before, snapshot(other.model)) {
			t.Errorf("%s: the model changed although the load failed", tc.name)
		}
	}

	if err := train.SaveCheckpoint(filepath.Join(dir, "no", "such", "dir", "ck"), train.Checkpoint{Model: s.model}); err == nil {
		t.Error("SaveCheckpoint into a missing directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries after a failed save, want 2", len(entries))
	}
}

func snapshot(m nn.Module) map[string][]float64 {
	out := map[string][]float64{}
	for k, v := range nn.StateDict(m) {
		out[k] = v.Float64s()
	}
	return out
}

func sameState(a, b map[string][]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
