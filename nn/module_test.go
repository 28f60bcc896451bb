package nn_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
)

func TestSnakeCase(t *testing.T) {
	// The names torch modules use for the same attributes.
	for _, c := range []struct{ in, want string }{
		{"RunningMean", "running_mean"},
		{"BN1", "bn1"},
		{"LMHead", "lm_head"},
		{"CAttn", "c_attn"},
		{"InProjWeight", "in_proj_weight"},
		{"Layer1", "layer1"},
		{"Conv1", "conv1"},
		{"FC", "fc"},
		{"NumBatchesTracked", "num_batches_tracked"},
		{"Weight", "weight"},
		{"WTE", "wte"},
		{"Layer2Block", "layer2_block"},
		{"X", "x"},
	} {
		if got := nn.SnakeCase(c.in); got != c.want {
			t.Errorf("SnakeCase(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// Test modules, shaped like a torch model with nested blocks.
type norm struct {
	nn.Mode
	Weight      *nn.Parameter
	Bias        *nn.Parameter
	RunningMean *nn.Buffer
}

func newNorm(n int) *norm {
	return &norm{
		Weight:      nn.NewParameter(tensor.Ones(n)),
		Bias:        nn.NewParameter(tensor.Zeros(n)),
		RunningMean: nn.NewBuffer(tensor.Zeros(n)),
	}
}

type block struct {
	Conv1      *affine
	BN1        *norm
	Downsample []*affine // nil: absent, as torch's None
	Cache      *tensor.Tensor
	Note       string
	Skip       *affine `nn:"-"`
	Renamed    *affine `nn:"proj"`
}

type affine struct {
	Weight *nn.Parameter
	Bias   *nn.Parameter
}

func newAffine(in, out int) *affine {
	return &affine{Weight: nn.NewParameter(tensor.Randn(out, in)), Bias: nn.NewParameter(tensor.Zeros(out))}
}

func (a *affine) Forward(x *tensor.Tensor) *tensor.Tensor {
	return x.MatMul(a.Weight.T()).Add(a.Bias.Tensor)
}

type net struct {
	Stem   *affine
	Layer1 []*block
	Head   struct{ FC *affine } // a struct value is a submodule too
	Scale  *nn.Parameter        // parameters come before submodules in torch's order
}

type embedded struct {
	*affine // unexported embedded type: invisible to discovery
	Extra   *norm
}

func newNet() *net {
	n := &net{Stem: newAffine(2, 3)}
	b0 := &block{Conv1: newAffine(3, 3), BN1: newNorm(3), Skip: newAffine(1, 1), Renamed: newAffine(3, 3)}
	b1 := &block{Conv1: newAffine(3, 3), BN1: newNorm(3), Downsample: []*affine{newAffine(3, 3)}, Renamed: newAffine(3, 3)}
	n.Layer1 = []*block{b0, b1}
	n.Head.FC = newAffine(3, 1)
	n.Scale = nn.NewParameter(tensor.Ones(1))
	return n
}

func TestDiscoveryNamesAndOrder(t *testing.T) {
	n := newNet()
	want := []string{
		"scale",
		"stem.weight", "stem.bias",
		"layer1.0.conv1.weight", "layer1.0.conv1.bias",
		"layer1.0.bn1.weight", "layer1.0.bn1.bias", "layer1.0.bn1.running_mean",
		"layer1.0.proj.weight", "layer1.0.proj.bias",
		"layer1.1.conv1.weight", "layer1.1.conv1.bias",
		"layer1.1.bn1.weight", "layer1.1.bn1.bias", "layer1.1.bn1.running_mean",
		"layer1.1.downsample.0.weight", "layer1.1.downsample.0.bias",
		"layer1.1.proj.weight", "layer1.1.proj.bias",
		"head.fc.weight", "head.fc.bias",
	}
	if got := nn.StateDictKeys(n); !slices.Equal(got, want) {
		t.Fatalf("keys\n got %v\nwant %v", got, want)
	}
	var params []string
	for _, p := range nn.NamedParameters(n) {
		params = append(params, p.Name)
	}
	if len(params) != len(want)-2 || slices.Contains(params, "layer1.0.bn1.running_mean") {
		t.Errorf("parameters %v", params)
	}
	if got := len(nn.NamedBuffers(n)); got != 2 {
		t.Errorf("%d buffers, want 2", got)
	}

	e := &embedded{affine: newAffine(2, 2), Extra: newNorm(2)}
	// An unexported embedded field is invisible to reflection's readers,
	// as to encoding/json: only Extra shows.
	if got := nn.StateDictKeys(e); !slices.Equal(got, []string{"extra.weight", "extra.bias", "extra.running_mean"}) {
		t.Errorf("embedded keys %v", got)
	}
	type Inner struct{ W *nn.Parameter }
	type outer struct {
		Inner
		V *nn.Parameter
	}
	o := &outer{Inner{nn.NewParameter(tensor.Ones(1))}, nn.NewParameter(tensor.Ones(1))}
	if got := nn.StateDictKeys(o); !slices.Equal(got, []string{"w", "v"}) {
		t.Errorf("embedded keys %v, want [w v]", got)
	}
}

func TestSharedParametersAndCycles(t *testing.T) {
	type tied struct {
		Emb  *affine
		Head *affine
		Back *tied // a cycle back to the root
	}
	a := newAffine(2, 2)
	m := &tied{Emb: a, Head: &affine{Weight: a.Weight, Bias: nn.NewParameter(tensor.Zeros(2))}}
	m.Back = m
	if got := len(nn.Parameters(m)); got != 3 {
		t.Errorf("%d parameters, want 3 (the tied weight once)", got)
	}
	// The state dict lists a shared tensor under each name, as torch's does.
	if got := nn.StateDictKeys(m); !slices.Equal(got, []string{"emb.weight", "emb.bias", "head.weight", "head.bias"}) {
		t.Errorf("keys %v", got)
	}
}

func TestLoadStateDictListsEveryProblem(t *testing.T) {
	n := newNet()
	sd := nn.StateDict(newNet())
	delete(sd, "stem.bias")
	delete(sd, "layer1.0.bn1.running_mean")
	sd["head.fc.weight"] = tensor.Zeros(2, 3)
	sd["layer1.1.proj.bias"] = tensor.Zeros(4)
	sd["stem.extra"] = tensor.Zeros(1)
	err := nn.LoadStateDict(n, sd, true)
	var le *nn.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("got %v, want *LoadError", err)
	}
	if !slices.Equal(le.Missing, []string{"stem.bias", "layer1.0.bn1.running_mean"}) ||
		!slices.Equal(le.Unexpected, []string{"stem.extra"}) || len(le.Mismatched) != 2 {
		t.Errorf("LoadError %+v", le)
	}
	for _, s := range []string{"stem.bias", "running_mean", "stem.extra", "head.fc.weight: state dict [2 3], module [1 3]", "layer1.1.proj.bias"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	before := n.Stem.Weight.Float64s()
	// Nothing was copied.
	if !slices.Equal(before, n.Stem.Weight.Float64s()) {
		t.Error("failed load modified the module")
	}
	// Non-strict ignores missing and unexpected keys but not shapes.
	sd["head.fc.weight"] = tensor.Zeros(1, 3)
	sd["layer1.1.proj.bias"] = tensor.Zeros(3)
	if err := nn.LoadStateDict(n, sd, false); err != nil {
		t.Fatalf("non-strict: %v", err)
	}
	if err := nn.LoadStateDict(n, sd, true); err == nil {
		t.Fatal("strict load with missing keys succeeded")
	}
}

func TestLoadStateDictCopiesAndConverts(t *testing.T) {
	src, dst := newNet(), newNet()
	nn.To(dst, tensor.Float64)
	p := dst.Stem.Weight // optimizers hold *Parameter: it must stay valid
	if err := nn.LoadStateDict(dst, nn.StateDict(src), true); err != nil {
		t.Fatal(err)
	}
	if p.DType() != tensor.Float64 || !p.RequiresGrad() || !p.IsLeaf() {
		t.Errorf("after load: dtype %v requires grad %v leaf %v", p.DType(), p.RequiresGrad(), p.IsLeaf())
	}
	want := src.Stem.Weight.Float64s()
	if got := p.Float64s(); !slices.Equal(got, want) {
		t.Errorf("loaded %v, want %v", got, want)
	}
	// The state dict shares storage with the module (clone to snapshot).
	sd := nn.StateDict(src)
	if !sd["stem.weight"].SharesStorage(src.Stem.Weight.Tensor) {
		t.Error("state dict does not share storage")
	}
}

// A module with a mode but no tensors (a dropout, say).
type modeOnly struct{ nn.Mode }

func TestTrainEvalAndFreeze(t *testing.T) {
	type withDrop struct {
		Drop *modeOnly
		Act  modeOnly
	}
	w := &withDrop{Drop: &modeOnly{}}
	nn.Eval(w)
	if w.Drop.Training() || w.Act.Training() {
		t.Error("Eval did not reach modules without tensors")
	}
	n := newNet()
	nn.Eval(n)
	for _, b := range n.Layer1 {
		if b.BN1.Training() {
			t.Error("Eval left a norm training")
		}
	}
	nn.Train(n)
	if !n.Layer1[1].BN1.Training() {
		t.Error("Train left a norm in eval")
	}
	nn.SetRequiresGrad(n, false)
	for _, p := range nn.Parameters(n) {
		if p.RequiresGrad() {
			t.Fatal("frozen parameter requires grad")
		}
	}
	x := tensor.Randn(4, 2)
	if y := n.Stem.Forward(x); y.RequiresGrad() {
		t.Error("frozen module recorded a graph")
	}
}

func TestContainersAndHooks(t *testing.T) {
	a, b := newAffine(2, 3), newAffine(3, 1)
	s := nn.NewSequential(a, b)
	if got := nn.StateDictKeys(s); !slices.Equal(got, []string{"0.weight", "0.bias", "1.weight", "1.bias"}) {
		t.Errorf("Sequential keys %v", got)
	}
	d := nn.NewModuleDict()
	d.Set("enc", a)
	d.Set("dec", b)
	d.Set("enc", a)
	if got := nn.StateDictKeys(d); !slices.Equal(got, []string{"enc.weight", "enc.bias", "dec.weight", "dec.bias"}) {
		t.Errorf("ModuleDict keys %v", got)
	}
	l := nn.ModuleList{a, b}
	type holder struct{ Blocks nn.ModuleList }
	if got := nn.StateDictKeys(&holder{l}); !slices.Equal(got, []string{"blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "blocks.1.bias"}) {
		t.Errorf("ModuleList keys %v", got)
	}

	x := tensor.Randn(4, 2)
	var seen []int
	remove := nn.RegisterForwardHook(a, func(_ nn.Layer, in, out *tensor.Tensor) *tensor.Tensor {
		seen = append(seen, out.Shape()[1])
		return out.MulScalar(0) // replaces a's output
	})
	pre := nn.RegisterForwardPreHook(b, func(_ nn.Layer, in *tensor.Tensor) *tensor.Tensor {
		seen = append(seen, in.Shape()[1]*10)
		return nil
	})
	y := s.Forward(x)
	if !slices.Equal(seen, []int{3, 30}) {
		t.Errorf("hooks saw %v", seen)
	}
	// a's output was zeroed, so y is b's bias.
	if got, want := y.Float64s(), b.Bias.Expand(4, 1).Float64s(); !slices.Equal(got, want) {
		t.Errorf("hooked output %v, want %v", got, want)
	}
	remove()
	remove()
	pre()
	seen = nil
	s.Forward(x)
	if seen != nil {
		t.Errorf("removed hooks still ran: %v", seen)
	}
}

// Concurrent forward passes on one model and reflection over it must be
// race-free (run with -race).
func TestConcurrentForward(t *testing.T) {
	s := nn.NewSequential(newAffine(2, 8), newAffine(8, 1))
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				y := s.Forward(tensor.Randn(3, 2)).Sum()
				y.Backward()
				_ = nn.StateDictKeys(s)
			}
		}()
	}
	wg.Wait()
}
