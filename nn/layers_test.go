package nn_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/nn"
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

// The layer cases of testdata/layers.json (written by gen_layers.py from
// torch 1.13) are built here from their config: the same layer, with
// torch's state dict loaded strictly, must give torch's outputs, buffers
// and gradients.

// layerCfg reads a case's config with defaults.
type layerCfg map[string]any

func (c layerCfg) has(k string) bool { v, ok := c[k]; return ok && v != nil }

func (c layerCfg) int(k string, def int) int {
	if v, ok := c[k].(float64); ok {
		return int(v)
	}
	return def
}

func (c layerCfg) float(k string, def float64) float64 {
	if v, ok := c[k].(float64); ok {
		return v
	}
	return def
}

func (c layerCfg) bool(k string, def bool) bool {
	if v, ok := c[k].(bool); ok {
		return v
	}
	return def
}

func (c layerCfg) str(k string) string { s, _ := c[k].(string); return s }

// ints returns a list option as a slice, or nil when it is a single int.
func (c layerCfg) ints(k string) []int {
	l, ok := c[k].([]any)
	if !ok {
		return nil
	}
	out := make([]int, len(l))
	for i, v := range l {
		out[i] = int(v.(float64))
	}
	return out
}

type layerForwardFn = func(in []*tensor.Tensor) []*tensor.Tensor

// single runs a one-input layer through nn.Call.
func oneInput(l nn.Layer) (nn.Module, layerForwardFn) {
	return l, func(in []*tensor.Tensor) []*tensor.Tensor { return []*tensor.Tensor{nn.Call(l, in[0])} }
}

func fixConvConfig(c layerCfg) nn.ConvConfig {
	cc := nn.ConvConfig{
		Stride: c.int("stride", 0), StrideDims: c.ints("stride"),
		Padding: c.int("padding", 0), PaddingDims: c.ints("padding"),
		Dilation: c.int("dilation", 0), DilationDims: c.ints("dilation"),
		OutputPadding: c.int("output_padding", 0), OutputPaddingDims: c.ints("output_padding"),
		Groups:     c.int("groups", 0),
		KernelDims: c.ints("kernel"),
		NoBias:     !c.bool("bias", true),
		Same:       c.str("padding") == "same",
	}
	if m := c.str("padding_mode"); m != "zeros" {
		cc.PaddingMode = m
	}
	return cc
}

func fixPoolConfig(c layerCfg) nn.PoolConfig {
	return nn.PoolConfig{
		Stride: c.int("stride", 0), StrideDims: c.ints("stride"),
		Padding: c.int("padding", 0), PaddingDims: c.ints("padding"),
		Dilation: c.int("dilation", 0), DilationDims: c.ints("dilation"),
		KernelDims:      c.ints("kernel_size"),
		CeilMode:        c.bool("ceil_mode", false),
		ExcludePadding:  !c.bool("count_include_pad", true),
		DivisorOverride: c.int("divisor_override", 0),
	}
}

func fixNormConfig(c layerCfg) nn.NormConfig {
	nc := nn.NormConfig{
		Eps:                 c.float("eps", 0),
		NoAffine:            !c.bool("affine", true),
		NoTrackRunningStats: !c.bool("track_running_stats", true),
	}
	if m, ok := c["momentum"]; ok {
		if m == nil {
			nc.CumulativeAverage = true
		} else {
			nc.Momentum = m.(float64)
		}
	}
	return nc
}

var layerBuilders = map[string]func(c layerCfg) (nn.Module, layerForwardFn){
	"linear": func(c layerCfg) (nn.Module, layerForwardFn) {
		return oneInput(nn.NewLinear(c.int("in", -1), c.int("out", -1), nn.LinearConfig{NoBias: !c.bool("bias", true)}))
	},
	"bilinear": func(c layerCfg) (nn.Module, layerForwardFn) {
		l := nn.NewBilinear(c.int("in1", -1), c.int("in2", -1), c.int("out", -1), nn.LinearConfig{NoBias: !c.bool("bias", true)})
		return l, func(in []*tensor.Tensor) []*tensor.Tensor { return []*tensor.Tensor{l.Forward(in[0], in[1])} }
	},
	"identity": func(c layerCfg) (nn.Module, layerForwardFn) { return oneInput(nn.NewIdentity()) },
	"flatten": func(c layerCfg) (nn.Module, layerForwardFn) {
		if c.has("start") {
			return oneInput(nn.NewFlatten(c.int("start", 1), c.int("end", -1)))
		}
		return oneInput(nn.NewFlatten())
	},
	"unflatten": func(c layerCfg) (nn.Module, layerForwardFn) {
		return oneInput(nn.NewUnflatten(c.int("dim", 0), c.ints("sizes")...))
	},
	"conv1d": func(c layerCfg) (nn.Module, layerForwardFn) {
		return oneInput(nn.NewConv1d(c.int("in", -1), c.int("out", -1), c.int("kernel", 0), fixConvConfig(c)))
	},
	"conv2d": func(c layerCfg) (nn.Module, layerForwardFn) {
		return oneInput(nn.NewConv2d(c.int("in", -1), c.int("out", -1), c.int("kernel", 0), fixConvConfig(c)))
	},
	"conv_transpose2d": func(c layerCfg) (nn.Module, layerForwardFn) {
		return oneInput(nn.NewConvTranspose2d(c.int("in", -1), c.int("out", -1), c.int("kernel", 0), fixConvConfig(c)))
	},
	"maxpool1d": func(c layerCfg) (nn.Module, layerForwardFn) {
		return oneInput(nn.NewMaxPool1d(c.int("kernel_size", 0), fixPoolConfig(c)))
	},
	"maxpool2d": func(c layerCfg) (nn.Module, layerForwardFn) {
		return oneInput(nn.NewMaxPool2d(c.int("kernel_size", 0), fixPoolConfig(c)))
	},
	"avgpool2d": func(c layerCfg) (nn.Module, layerForwardFn) {
		return oneInput(nn.NewAvgPool2d(c.int("kernel_size", 0), fixPoolConfig(c)))
	},
	"adaptive_avgpool2d": func(c layerCfg) (nn.Module, layerForwardFn) {
		s := c.ints("output_size")
		return oneInput(nn.NewAdaptiveAvgPool2d(s[0], s[1]))
	},
	"batchnorm1d": func(c layerCfg) (nn.Module, layerForwardFn) {
		return oneInput(nn.NewBatchNorm1d(c.int("features", -1), fixNormConfig(c)))
	},
	"batchnorm2d": func(c layerCfg) (nn.Module, layerForwardFn) {
		return oneInput(nn.NewBatchNorm2d(c.int("features", -1), fixNormConfig(c)))
	},
	"layernorm": func(c layerCfg) (nn.Module, layerForwardFn) {
		if c.has("eps") || c.has("affine") {
			return oneInput(nn.NewLayerNormWith(c.ints("shape"), fixNormConfig(c)))
		}
		return oneInput(nn.NewLayerNorm(c.ints("shape")...))
	},
	"groupnorm": func(c layerCfg) (nn.Module, layerForwardFn) {
		return oneInput(nn.NewGroupNorm(c.int("groups", -1), c.int("channels", -1), fixNormConfig(c)))
	},
	"embedding": func(c layerCfg) (nn.Module, layerForwardFn) {
		var ec nn.EmbeddingConfig
		if c.has("padding_idx") {
			ec.PaddingIdx = F.Index(c.int("padding_idx", 0))
		}
		return oneInput(nn.NewEmbedding(c.int("num", -1), c.int("dim", -1), ec))
	},
	"activation": func(c layerCfg) (nn.Module, layerForwardFn) {
		switch c.str("name") {
		case "relu":
			return oneInput(nn.NewReLU())
		case "leaky_relu":
			if c.has("slope") {
				return oneInput(nn.NewLeakyReLU(c.float("slope", 0)))
			}
			return oneInput(nn.NewLeakyReLU())
		case "gelu":
			return oneInput(&nn.GELU{Approximate: c.str("approximate")})
		case "silu":
			return oneInput(nn.NewSiLU())
		case "tanh":
			return oneInput(nn.NewTanh())
		case "sigmoid":
			return oneInput(nn.NewSigmoid())
		case "softmax":
			return oneInput(nn.NewSoftmax(c.int("dim", 0)))
		case "log_softmax":
			return oneInput(nn.NewLogSoftmax(c.int("dim", 0)))
		}
		return nil, nil
	},
}

func TestLayersMatchPyTorch(t *testing.T) {
	cases := loadLayerCases(t, "layers.json")
	kinds := map[string]map[string]bool{} // kind → dtypes covered
	for _, c := range cases {
		kind, _ := c.Config["kind"].(string)
		build, ok := layerBuilders[kind]
		if !ok {
			t.Errorf("%s: no builder for kind %q", c.Name, kind)
			continue
		}
		if kinds[kind] == nil {
			kinds[kind] = map[string]bool{}
		}
		kinds[kind][c.DType] = true
		t.Run(c.Name, func(t *testing.T) {
			m, fwd := build(layerCfg(c.Config))
			if m == nil {
				t.Fatalf("no layer for config %v", c.Config)
			}
			runLayerCase(t, c, m, fwd)
		})
	}
	for kind, dts := range kinds {
		if !dts["float32"] || !dts["float64"] {
			t.Errorf("kind %s has fixtures for %v only; want float32 and float64", kind, dts)
		}
	}
	if len(kinds) < len(layerBuilders) {
		t.Errorf("fixtures cover %d kinds of %d", len(kinds), len(layerBuilders))
	}
}

// A layer given a wrong size panics with a *tensor.Error that names the
// layer and the shapes.
func TestLayerErrors(t *testing.T) {
	x4 := tensor.Zeros(2, 3, 8, 8)
	tests := []struct {
		name string
		f    func()
		want []string // substrings of the message
	}{
		{"linear input", func() { nn.NewLinear(4, 2).Forward(tensor.Zeros(3, 5)) }, []string{"nn.Linear", "[3 5]", "4"}},
		{"conv groups", func() { nn.NewConv2d(3, 4, 3, nn.ConvConfig{Groups: 2}) }, []string{"nn.Conv2d", "in_channels 3", "groups 2"}},
		{"conv out groups", func() { nn.NewConv1d(4, 3, 3, nn.ConvConfig{Groups: 2}) }, []string{"nn.Conv1d", "out_channels 3"}},
		{"conv channels", func() { nn.NewConv2d(4, 4, 3).Forward(x4) }, []string{"nn.Conv2d", "[2 3 8 8]", "4 channels"}},
		{"conv same strided", func() { nn.NewConv2d(3, 4, 3, nn.ConvConfig{Same: true, Stride: 2}) }, []string{"same", "strided"}},
		{"conv kernel dims", func() { nn.NewConv2d(3, 4, 3, nn.ConvConfig{KernelDims: []int{3}}) }, []string{"kernel size [3]", "2 values"}},
		{"conv padding mode", func() { nn.NewConv2d(3, 4, 3, nn.ConvConfig{PaddingMode: "mirror"}) }, []string{"mirror"}},
		{"convT output padding", func() { nn.NewConvTranspose2d(3, 4, 3, nn.ConvConfig{Stride: 2, OutputPadding: 2}) }, []string{"output padding [2 2]"}},
		{"pool padding", func() { nn.NewMaxPool2d(2, nn.PoolConfig{Padding: 2}) }, []string{"nn.MaxPool2d", "half the kernel"}},
		{"pool rank", func() { nn.NewMaxPool2d(2).Forward(tensor.Zeros(8, 8)) }, []string{"nn.MaxPool2d", "[8 8]"}},
		{"bn channels", func() { nn.NewBatchNorm2d(4).Forward(x4) }, []string{"nn.BatchNorm2d", "[2 3 8 8]", "4 channels"}},
		{"bn rank", func() { nn.NewBatchNorm1d(3).Forward(x4) }, []string{"nn.BatchNorm1d", "2-d or 3-d"}},
		{"layernorm shape", func() { nn.NewLayerNorm(5).Forward(x4) }, []string{"nn.LayerNorm", "[5]"}},
		{"groupnorm groups", func() { nn.NewGroupNorm(4, 6) }, []string{"nn.GroupNorm", "6", "4"}},
		{"embedding padding", func() { nn.NewEmbedding(5, 2, nn.EmbeddingConfig{PaddingIdx: F.Index(5)}) }, []string{"nn.Embedding", "padding_idx 5"}},
		{"dropout p", func() { nn.NewDropout(1.5) }, []string{"nn.Dropout", "1.5"}},
		{"unflatten sizes", func() { nn.NewUnflatten(1, 4, 2).Forward(tensor.Zeros(2, 6)) }, []string{"nn.Unflatten", "[4 2]"}},
	}
	for _, tc := range tests {
		err := tensor.Try(tc.f)
		var te *tensor.Error
		if !errors.As(err, &te) {
			t.Errorf("%s: got %v, want a *tensor.Error", tc.name, err)
			continue
		}
		for _, s := range tc.want {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: %q does not mention %q", tc.name, err, s)
			}
		}
	}
}

// The state-dict keys and shapes of each layer are torch's.
func TestLayerStateKeys(t *testing.T) {
	tests := []struct {
		m    nn.Module
		keys []string
		sh   [][]int
	}{
		{nn.NewLinear(3, 2), []string{"weight", "bias"}, [][]int{{2, 3}, {2}}},
		{nn.NewLinear(3, 2, nn.LinearConfig{NoBias: true}), []string{"weight"}, [][]int{{2, 3}}},
		{nn.NewBilinear(3, 4, 2), []string{"weight", "bias"}, [][]int{{2, 3, 4}, {2}}},
		{nn.NewConv2d(4, 6, 3, nn.ConvConfig{Groups: 2}), []string{"weight", "bias"}, [][]int{{6, 2, 3, 3}, {6}}},
		{nn.NewConvTranspose2d(4, 6, 3, nn.ConvConfig{Groups: 2}), []string{"weight", "bias"}, [][]int{{4, 3, 3, 3}, {6}}},
		{nn.NewConv1d(2, 3, 5, nn.ConvConfig{NoBias: true}), []string{"weight"}, [][]int{{3, 2, 5}}},
		{nn.NewBatchNorm2d(3), []string{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}, [][]int{{3}, {3}, {3}, {3}, {}}},
		{nn.NewBatchNorm1d(3, nn.NormConfig{NoAffine: true}), []string{"running_mean", "running_var", "num_batches_tracked"}, [][]int{{3}, {3}, {}}},
		{nn.NewBatchNorm1d(3, nn.NormConfig{NoTrackRunningStats: true}), []string{"weight", "bias"}, [][]int{{3}, {3}}},
		{nn.NewLayerNorm(3, 4), []string{"weight", "bias"}, [][]int{{3, 4}, {3, 4}}},
		{nn.NewGroupNorm(2, 4), []string{"weight", "bias"}, [][]int{{4}, {4}}},
		{nn.NewEmbedding(7, 3), []string{"weight"}, [][]int{{7, 3}}},
		{nn.NewMaxPool2d(2), nil, nil},
		{nn.NewDropout(0.1), nil, nil},
	}
	for _, tc := range tests {
		keys := nn.StateDictKeys(tc.m)
		if !slices.Equal(keys, tc.keys) {
			t.Errorf("%T: keys %v, want %v", tc.m, keys, tc.keys)
			continue
		}
		sd := nn.StateDict(tc.m)
		for i, k := range keys {
			if !slices.Equal(sd[k].Shape(), tc.sh[i]) {
				t.Errorf("%T: %s has shape %v, want %v", tc.m, k, sd[k].Shape(), tc.sh[i])
			}
		}
	}
	if dt := nn.StateDict(nn.NewBatchNorm2d(2))["num_batches_tracked"].DType(); dt != tensor.Int64 {
		t.Errorf("num_batches_tracked is %v, want int64", dt)
	}
}

// Default initialization has torch's distributions: the bounds of
// reset_parameters, reached but not exceeded, and a seed that repeats.
func TestLayerDefaultInit(t *testing.T) {
	type bound struct {
		name  string
		t     *tensor.Tensor
		bound float64 // values in [−bound, bound]
	}
	tests := []struct {
		name   string
		build  func() nn.Module
		bounds func(m nn.Module) []bound
	}{
		{"Linear(100, 300)", func() nn.Module { return nn.NewLinear(100, 300) }, func(m nn.Module) []bound {
			l := m.(*nn.Linear)
			return []bound{{"weight", l.Weight.Tensor, 1 / math.Sqrt(100)}, {"bias", l.Bias.Tensor, 1 / math.Sqrt(100)}}
		}},
		{"Conv2d(8, 16, 3, groups 2)", func() nn.Module { return nn.NewConv2d(8, 160, 3, nn.ConvConfig{Groups: 2}) }, func(m nn.Module) []bound {
			c := m.(*nn.Conv2d)
			b := 1 / math.Sqrt(4*9)
			return []bound{{"weight", c.Weight.Tensor, b}, {"bias", c.Bias.Tensor, b}}
		}},
		{"Conv1d(6, 32, 5)", func() nn.Module { return nn.NewConv1d(6, 320, 5) }, func(m nn.Module) []bound {
			c := m.(*nn.Conv1d)
			b := 1 / math.Sqrt(6*5)
			return []bound{{"weight", c.Weight.Tensor, b}, {"bias", c.Bias.Tensor, b}}
		}},
		{"ConvTranspose2d(8, 64, 3)", func() nn.Module { return nn.NewConvTranspose2d(80, 64, 3) }, func(m nn.Module) []bound {
			c := m.(*nn.ConvTranspose2d)
			b := 1 / math.Sqrt(64*9) // fan_in of the [in, out, k, k] weight is out·k·k
			return []bound{{"weight", c.Weight.Tensor, b}, {"bias", c.Bias.Tensor, b}}
		}},
		{"Bilinear(20, 30, 400)", func() nn.Module { return nn.NewBilinear(20, 30, 400) }, func(m nn.Module) []bound {
			l := m.(*nn.Bilinear)
			return []bound{{"weight", l.Weight.Tensor, 1 / math.Sqrt(20)}, {"bias", l.Bias.Tensor, 1 / math.Sqrt(20)}}
		}},
	}
	for _, tc := range tests {
		tensor.ManualSeed(11)
		m := tc.build()
		for _, b := range tc.bounds(m) {
			v := b.t.Float64s()
			lo, hi := slices.Min(v), slices.Max(v)
			if lo < -b.bound || hi > b.bound {
				t.Errorf("%s %s: values in [%g, %g] exceed ±%g", tc.name, b.name, lo, hi, b.bound)
			}
			// uniform draws come within a small fraction of the bound
			if reach := 1 - 20/float64(len(v)); lo > -b.bound*reach || hi < b.bound*reach {
				t.Errorf("%s %s: values in [%g, %g] do not fill ±%g", tc.name, b.name, lo, hi, b.bound)
			}
			mean := 0.0
			for _, x := range v {
				mean += x
			}
			mean /= float64(len(v))
			if se := b.bound / math.Sqrt(3*float64(len(v))); math.Abs(mean) > 5*se {
				t.Errorf("%s %s: mean %g, want 0 ± %g", tc.name, b.name, mean, 5*se)
			}
		}
		tensor.ManualSeed(11)
		again := nn.StateDict(tc.build())
		for k, v := range nn.StateDict(m) {
			if !slices.Equal(v.Float32s(), again[k].Float32s()) {
				t.Errorf("%s: %s differs under the same seed", tc.name, k)
			}
		}
		g1, g2 := tensor.NewGenerator(5), tensor.NewGenerator(5)
		a, b := nn.NewLinear(7, 3, nn.LinearConfig{Generator: g1}), nn.NewLinear(7, 3, nn.LinearConfig{Generator: g2})
		if !slices.Equal(a.Weight.Float32s(), b.Weight.Float32s()) || !slices.Equal(a.Bias.Float32s(), b.Bias.Float32s()) {
			t.Errorf("Linear with equal generators differs")
		}
	}

	// Embedding: N(0, 1) with the padding row zero.
	tensor.ManualSeed(3)
	e := nn.NewEmbedding(1000, 100, nn.EmbeddingConfig{PaddingIdx: F.Index(-2)})
	w := e.Weight.Float64s()
	var sum, sq float64
	for i, x := range w {
		if i/100 == 998 {
			if x != 0 {
				t.Fatalf("padding row 998 is not zero: %v", w[998*100:999*100])
			}
			continue
		}
		sum += x
		sq += x * x
	}
	n := float64(len(w) - 100)
	if mean, std := sum/n, math.Sqrt(sq/n-(sum/n)*(sum/n)); math.Abs(mean) > 5/math.Sqrt(n) || math.Abs(std-1) > 0.01 {
		t.Errorf("Embedding init mean %g std %g, want N(0, 1)", mean, std)
	}
	if *e.PaddingIdx != 998 {
		t.Errorf("padding index %d, want 998", *e.PaddingIdx)
	}
	// Norm layers start at weight 1, bias 0, running stats 0 and 1.
	bn := nn.NewBatchNorm2d(3)
	for name, want := range map[string]float64{"weight": 1, "bias": 0, "running_mean": 0, "running_var": 1, "num_batches_tracked": 0} {
		for _, v := range nn.StateDict(bn)[name].Float64s() {
			if v != want {
				t.Errorf("BatchNorm2d %s = %v, want %v", name, v, want)
			}
		}
	}
}

func TestDropout(t *testing.T) {
	const n = 100000
	for _, p := range []float64{0.1, 0.5, 0.8} {
		d := nn.NewDropout(p, tensor.NewGenerator(1))
		x := tensor.Ones(n).SetRequiresGrad(true)
		y := d.Forward(x)
		v := y.Float64s()
		zeros := 0
		for _, e := range v {
			switch {
			case e == 0:
				zeros++
			case math.Abs(e-1/(1-p)) > 1e-6:
				t.Fatalf("p=%v: kept value %v, want %v", p, e, 1/(1-p))
			}
		}
		frac := float64(zeros) / n
		if se := math.Sqrt(p * (1 - p) / n); math.Abs(frac-p) > 5*se {
			t.Errorf("p=%v: dropped %.4f of the elements, want %v ± %.4f", p, frac, p, 5*se)
		}
		// the gradient is the mask, scaled
		y.Sum().Backward()
		if g := x.Grad().Float64s(); !slices.Equal(g, v) {
			t.Errorf("p=%v: gradient is not the scaled mask", p)
		}
		// eval is the identity, and returns its input
		nn.Eval(d)
		if d.Training() {
			t.Fatal("Eval left Dropout training")
		}
		if got := d.Forward(x); got != x {
			t.Errorf("p=%v: eval Dropout changed its input", p)
		}
		nn.Train(d)
		if !d.Training() {
			t.Fatal("Train left Dropout in eval mode")
		}
	}
	// the same generator seed gives the same mask
	a := nn.NewDropout(0.5, tensor.NewGenerator(9)).Forward(tensor.Ones(64)).Float64s()
	b := nn.NewDropout(0.5, tensor.NewGenerator(9)).Forward(tensor.Ones(64)).Float64s()
	if !slices.Equal(a, b) {
		t.Error("equal seeds gave different dropout masks")
	}
	if y := nn.NewDropout(0).Forward(tensor.Ones(8)); slices.Min(y.Float64s()) != 1 {
		t.Error("Dropout(0) changed its input")
	}
}

// BatchNorm in training mode counts batches and moves its running
// statistics; in eval mode it uses them and leaves them alone.
func TestBatchNormModes(t *testing.T) {
	bn := nn.NewBatchNorm1d(2, nn.NormConfig{CumulativeAverage: true})
	x := tensor.FromSlice([]float32{1, 10, 3, 20, 5, 30}, 3, 2)
	// cumulative average over batches: after one batch the running mean is
	// the batch mean, after two the average of both means
	bn.Forward(x)
	bn.Forward(x.MulScalar(3))
	if got := bn.NumBatchesTracked.Item(); got != 2 {
		t.Errorf("num_batches_tracked = %v, want 2", got)
	}
	if got, want := bn.RunningMean.Float64s(), []float64{(3 + 9) / 2.0, (20 + 60) / 2.0}; !layersClose(got, want, 1e-5) {
		t.Errorf("running mean %v, want %v", got, want)
	}
	nn.Eval(bn)
	before := bn.RunningMean.Float64s()
	y := bn.Forward(x).Float64s()
	if !slices.Equal(before, bn.RunningMean.Float64s()) || bn.NumBatchesTracked.Item() != 2 {
		t.Error("eval forward changed the running statistics")
	}
	rv := bn.RunningVar.Float64s()
	if want := (1 - before[0]) / math.Sqrt(rv[0]+1e-5); math.Abs(y[0]-want) > 1e-5 {
		t.Errorf("eval output %v, want %v from the running statistics", y[0], want)
	}
}

func layersClose(a, b []float64, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol*math.Max(1, math.Abs(b[i])) {
			return false
		}
	}
	return true
}

// Layers with no parameters run unbatched inputs, keep hooks apart, and
// Flatten/Unflatten are inverse views.
func TestShapeLayers(t *testing.T) {
	x := tensor.Arange(0, 24, 1).Reshape(2, 3, 4)
	f := nn.NewFlatten().Forward(x)
	if !slices.Equal(f.Shape(), []int{2, 12}) {
		t.Errorf("Flatten: %v", f.Shape())
	}
	u := nn.NewUnflatten(1, 3, -1).Forward(f)
	if !slices.Equal(u.Shape(), []int{2, 3, 4}) || !slices.Equal(u.Float64s(), x.Float64s()) {
		t.Errorf("Unflatten: %v", u.Shape())
	}
	if y := nn.NewIdentity().Forward(x); y != x {
		t.Error("Identity did not return its input")
	}
	// an unbatched image goes through conv and pool as torch's do
	c := nn.NewConv2d(3, 2, 3, nn.ConvConfig{Padding: 1})
	img := tensor.Randn(3, 5, 5)
	one := c.Forward(img)
	batch := c.Forward(img.Unsqueeze(0)).Squeeze(0)
	if !slices.Equal(one.Shape(), []int{2, 5, 5}) || !layersClose(one.Float64s(), batch.Float64s(), 1e-6) {
		t.Errorf("unbatched conv: %v", one.Shape())
	}
	if p := nn.NewMaxPool2d(2).Forward(one); !slices.Equal(p.Shape(), []int{2, 2, 2}) {
		t.Errorf("unbatched pool: %v", p.Shape())
	}
	// hooks on one ReLU do not fire for another
	r1, r2 := nn.NewReLU(), nn.NewReLU()
	fired := 0
	remove := nn.RegisterForwardHook(r1, func(nn.Layer, *tensor.Tensor, *tensor.Tensor) *tensor.Tensor { fired++; return nil })
	nn.Call(r2, x)
	nn.Call(r1, x)
	remove()
	if fired != 1 {
		t.Errorf("hook fired %d times, want 1", fired)
	}
}

func TestEmbeddingFromPretrained(t *testing.T) {
	w := tensor.FromSlice([]float64{0, 0, 1, 2, 3, 4}, 3, 2)
	for _, freeze := range []bool{true, false} {
		e := nn.NewEmbeddingFromPretrained(w, freeze, nn.EmbeddingConfig{PaddingIdx: F.Index(0)})
		if e.NumEmbeddings != 3 || e.EmbeddingDim != 2 || e.Weight.RequiresGrad() == freeze {
			t.Errorf("freeze=%v: %d×%d, requires grad %v", freeze, e.NumEmbeddings, e.EmbeddingDim, e.Weight.RequiresGrad())
		}
		y := e.Forward(tensor.FromSlice([]int64{2, 0, 2}))
		if got := y.Float64s(); !slices.Equal(got, []float64{3, 4, 0, 0, 3, 4}) {
			t.Errorf("freeze=%v: lookup %v", freeze, got)
		}
		if !freeze {
			y.Sum().Backward()
			if got := e.Weight.Grad().Float64s(); !slices.Equal(got, []float64{0, 0, 0, 0, 2, 2}) {
				t.Errorf("gradient %v, want the padding row left out", got)
			}
		}
	}
	// the weights are a copy
	e := nn.NewEmbeddingFromPretrained(w, true)
	tensor.WithGradEnabled(false, func() { e.Weight.FillIn(7) })
	if w.Float64s()[2] != 1 {
		t.Error("the embedding shares storage with the pretrained tensor")
	}
}

func TestReLUInplace(t *testing.T) {
	x := tensor.FromSlice([]float32{-1, 2, -3}).SetRequiresGrad(true)
	h := x.MulScalar(2)
	y := (&nn.ReLU{Inplace: true}).Forward(h)
	if y != h || !slices.Equal(h.Float64s(), []float64{0, 4, 0}) {
		t.Errorf("in-place ReLU gave %v, input now %v", y.Float64s(), h.Float64s())
	}
	y.Sum().Backward()
	if got := x.Grad().Float64s(); !slices.Equal(got, []float64{0, 2, 0}) {
		t.Errorf("gradient through in-place ReLU %v, want [0 2 0]", got)
	}
}

// Forward passes on one model in eval mode may run in many goroutines at
// once (run under -race) and agree with a serial pass.
func TestLayersConcurrentEval(t *testing.T) {
	tensor.ManualSeed(4)
	model := nn.NewSequential(
		nn.NewConv2d(3, 8, 3, nn.ConvConfig{Padding: 1}), nn.NewBatchNorm2d(8), nn.NewReLU(),
		nn.NewMaxPool2d(2), nn.NewDropout(0.5), nn.NewFlatten(), nn.NewLinear(8*4*4, 5), nn.NewLayerNorm(5),
	)
	x := tensor.Randn(2, 3, 8, 8)
	model.Forward(x) // training: moves the running statistics away from 0 and 1
	nn.Eval(model)
	want := model.Forward(x).Float64s()
	const workers = 4
	got := make([][]float64, workers)
	done := make(chan int)
	for w := range workers {
		go func() {
			got[w] = model.Forward(x).Float64s()
			done <- w
		}()
	}
	for range workers {
		<-done
	}
	for w := range workers {
		if !slices.Equal(got[w], want) {
			t.Errorf("goroutine %d got a different result", w)
		}
	}
}
