package nn_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/nn"
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

// rnnStateful runs a recurrent layer of any kind with optional initial
// states; c0 and cN are nil except for LSTM.
type rnnStateful interface {
	nn.Module
	state(x, h0, c0 *tensor.Tensor) (out, hN, cN *tensor.Tensor)
	packed(p *nn.PackedSequence, h0, c0 *tensor.Tensor) (out *nn.PackedSequence, hN, cN *tensor.Tensor)
}

type testRNN struct{ *nn.RNN }

func (r testRNN) state(x, h0, _ *tensor.Tensor) (*tensor.Tensor, *tensor.Tensor, *tensor.Tensor) {
	o, h := r.ForwardState(x, h0)
	return o, h, nil
}

func (r testRNN) packed(p *nn.PackedSequence, h0, _ *tensor.Tensor) (*nn.PackedSequence, *tensor.Tensor, *tensor.Tensor) {
	o, h := r.ForwardPacked(p, h0)
	return o, h, nil
}

type testLSTM struct{ *nn.LSTM }

func (r testLSTM) state(x, h0, c0 *tensor.Tensor) (*tensor.Tensor, *tensor.Tensor, *tensor.Tensor) {
	return r.ForwardState(x, h0, c0)
}

func (r testLSTM) packed(p *nn.PackedSequence, h0, c0 *tensor.Tensor) (*nn.PackedSequence, *tensor.Tensor, *tensor.Tensor) {
	return r.ForwardPacked(p, h0, c0)
}

type testGRU struct{ *nn.GRU }

func (r testGRU) state(x, h0, _ *tensor.Tensor) (*tensor.Tensor, *tensor.Tensor, *tensor.Tensor) {
	o, h := r.ForwardState(x, h0)
	return o, h, nil
}

func (r testGRU) packed(p *nn.PackedSequence, h0, _ *tensor.Tensor) (*nn.PackedSequence, *tensor.Tensor, *tensor.Tensor) {
	o, h := r.ForwardPacked(p, h0)
	return o, h, nil
}

// newTestRNN builds a layer of the given fixture mode ("rnn_tanh",
// "rnn_relu", "lstm", "gru"). The module handed to nn functions is the
// *nn.RNN (…) itself, so that names come from its Members.
func newTestRNN(mode string, in, hidden int, cfg nn.RNNConfig) (rnnStateful, nn.Module) {
	switch mode {
	case "rnn_tanh", "rnn_relu":
		cfg.Nonlinearity = strings.TrimPrefix(mode, "rnn_")
		m := nn.NewRNN(in, hidden, cfg)
		return testRNN{m}, m
	case "lstm":
		m := nn.NewLSTM(in, hidden, cfg)
		return testLSTM{m}, m
	case "gru":
		m := nn.NewGRU(in, hidden, cfg)
		return testGRU{m}, m
	}
	panic("mode " + mode)
}

func rnnCfgInts(c map[string]any, key string) []int {
	var out []int
	for _, v := range c[key].([]any) {
		out = append(out, int(v.(float64)))
	}
	return out
}

// TestRNNFixtures checks RNN, LSTM, GRU and the cells against PyTorch
// (testdata/gen_rnn.py): outputs, final states, and the gradients of every
// parameter, input and initial state, for padded, batch-first, unbatched
// and packed inputs.
func TestRNNFixtures(t *testing.T) {
	cases := loadLayerCases(t, "rnn.json")
	if len(cases) < 40 {
		t.Fatalf("only %d cases in rnn.json", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			if c.cfgString("cell") != "" {
				runCellFixture(t, c)
				return
			}
			cfg := nn.RNNConfig{
				Layers:        c.cfgInt("layers"),
				Bidirectional: c.cfgBool("bidirectional"),
				BatchFirst:    c.cfgBool("batch_first"),
				NoBias:        !c.cfgBool("bias"),
				ProjSize:      c.cfgInt("proj_size"),
			}
			layer, m := newTestRNN(c.cfgString("mode"), c.cfgInt("input_size"), c.cfgInt("hidden_size"), cfg)
			_, isLSTM := layer.(testLSTM)
			runLayerCase(t, c, m, func(in []*tensor.Tensor) []*tensor.Tensor {
				x := in[0]
				var h0, c0 *tensor.Tensor
				if len(in) > 1 {
					h0 = in[1]
				}
				if len(in) > 2 {
					c0 = in[2]
				}
				var out, hN, cN *tensor.Tensor
				if _, ok := c.Config["lengths"]; ok {
					bf := c.cfgBool("batch_first")
					p := nn.PackPaddedSequence(x, rnnCfgInts(c.Config, "lengths"), bf, c.cfgBool("enforce_sorted"))
					var po *nn.PackedSequence
					po, hN, cN = layer.packed(p, h0, c0)
					if !slices.Equal(po.BatchSizes, p.BatchSizes) {
						t.Errorf("output batch sizes %v, want the input's %v", po.BatchSizes, p.BatchSizes)
					}
					var lengths []int
					out, lengths = nn.PadPackedSequence(po, bf, 0, c.cfgInt("total_length"))
					if want := rnnCfgInts(c.Config, "lengths"); !slices.Equal(lengths, want) {
						t.Errorf("lengths %v, want %v", lengths, want)
					}
				} else {
					out, hN, cN = layer.state(x, h0, c0)
				}
				if isLSTM {
					return []*tensor.Tensor{out, hN, cN}
				}
				return []*tensor.Tensor{out, hN}
			})
		})
	}
}

func runCellFixture(t *testing.T, c *layerCase) {
	in, hidden := c.cfgInt("input_size"), c.cfgInt("hidden_size")
	cfg := nn.RNNCellConfig{NoBias: !c.cfgBool("bias")}
	state := func(in []*tensor.Tensor, i int) *tensor.Tensor {
		if i < len(in) {
			return in[i]
		}
		return nil
	}
	switch c.cfgString("cell") {
	case "rnn":
		cfg.Nonlinearity = c.cfgString("nonlinearity")
		m := nn.NewRNNCell(in, hidden, cfg)
		runLayerCase(t, c, m, func(in []*tensor.Tensor) []*tensor.Tensor {
			return []*tensor.Tensor{m.ForwardState(in[0], state(in, 1))}
		})
	case "lstm":
		m := nn.NewLSTMCell(in, hidden, cfg)
		runLayerCase(t, c, m, func(in []*tensor.Tensor) []*tensor.Tensor {
			h, cell := m.ForwardState(in[0], state(in, 1), state(in, 2))
			return []*tensor.Tensor{h, cell}
		})
	case "gru":
		m := nn.NewGRUCell(in, hidden, cfg)
		runLayerCase(t, c, m, func(in []*tensor.Tensor) []*tensor.Tensor {
			return []*tensor.Tensor{m.ForwardState(in[0], state(in, 1))}
		})
	default:
		t.Fatalf("cell %q", c.cfgString("cell"))
	}
}

// rnnPackRef packs by the definition: step t of every sequence that has one,
// in order of decreasing length (ties keep batch order).
func rnnPackRef(x [][]float64, lengths []int, sorted bool) (data []float64, bs, order []int) {
	order = make([]int, len(lengths))
	for i := range order {
		order[i] = i
	}
	if !sorted {
		slices.SortStableFunc(order, func(a, b int) int { return lengths[b] - lengths[a] })
	}
	for t := 0; ; t++ {
		n := 0
		for _, b := range order {
			if lengths[b] > t {
				data = append(data, x[t][b])
				n++
			}
		}
		if n == 0 {
			return data, bs, order
		}
		bs = append(bs, n)
	}
}

func TestPackPaddedSequenceMatchesDefinition(t *testing.T) {
	tests := []struct {
		name          string
		lengths       []int
		steps         int
		batchFirst    bool
		enforceSorted bool
		totalLength   int
	}{
		{"unsorted", []int{2, 3, 1}, 3, false, false, 0},
		{"unsorted batch first", []int{2, 3, 1}, 4, true, false, 0},
		{"ties keep order", []int{2, 4, 2, 1, 4}, 4, false, false, 6},
		{"sorted", []int{4, 3, 3, 1}, 5, true, true, 0},
		{"sorted, not enforced", []int{4, 3, 3, 1}, 4, false, false, 0},
		{"one sequence", []int{3}, 3, false, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := len(tc.lengths)
			// x[t][b] = 100t + b + 1, in the padded layout asked for
			grid := make([][]float64, tc.steps)
			var flat []float64
			for s := range tc.steps {
				grid[s] = make([]float64, n)
				for b := range n {
					grid[s][b] = float64(100*s + b + 1)
				}
			}
			shape := []int{tc.steps, n, 1}
			if tc.batchFirst {
				shape = []int{n, tc.steps, 1}
				for b := range n {
					for s := range tc.steps {
						flat = append(flat, grid[s][b])
					}
				}
			} else {
				for s := range tc.steps {
					flat = append(flat, grid[s]...)
				}
			}
			x := tensor.FromSlice(flat, shape...)
			p := nn.PackPaddedSequence(x, tc.lengths, tc.batchFirst, tc.enforceSorted)
			wantData, wantBS, order := rnnPackRef(grid, tc.lengths, tc.enforceSorted)
			if got := p.Data.Float64s(); !slices.Equal(got, wantData) || !slices.Equal(p.Data.Shape(), []int{len(wantData), 1}) {
				t.Errorf("data %v %v, want %v", p.Data.Shape(), got, wantData)
			}
			if !slices.Equal(p.BatchSizes, wantBS) {
				t.Errorf("batch sizes %v, want %v", p.BatchSizes, wantBS)
			}
			if tc.enforceSorted {
				if p.SortedIndices != nil || p.UnsortedIndices != nil {
					t.Errorf("sorted batch: indices %v %v, want nil", p.SortedIndices, p.UnsortedIndices)
				}
			} else {
				if !slices.Equal(p.SortedIndices, order) {
					t.Errorf("sorted indices %v, want %v", p.SortedIndices, order)
				}
				for i, b := range p.SortedIndices {
					if p.UnsortedIndices[b] != i {
						t.Errorf("unsorted indices %v do not invert %v", p.UnsortedIndices, p.SortedIndices)
					}
				}
			}
			if got := p.Lengths(); !slices.Equal(got, tc.lengths) {
				t.Errorf("Lengths() = %v, want %v", got, tc.lengths)
			}

			// unpack: the input where a sequence has a step, padding after
			const pad = -7
			total := max(tc.totalLength, slices.Max(tc.lengths))
			y, lengths := nn.PadPackedSequence(p, tc.batchFirst, pad, tc.totalLength)
			if !slices.Equal(lengths, tc.lengths) {
				t.Errorf("lengths %v, want %v", lengths, tc.lengths)
			}
			wantShape := []int{total, n, 1}
			if tc.batchFirst {
				wantShape = []int{n, total, 1}
			}
			if !slices.Equal(y.Shape(), wantShape) {
				t.Fatalf("padded shape %v, want %v", y.Shape(), wantShape)
			}
			for s := range total {
				for b := range n {
					idx := []int{s, b, 0}
					if tc.batchFirst {
						idx = []int{b, s, 0}
					}
					want := float64(pad)
					if s < tc.lengths[b] {
						want = grid[s][b]
					}
					if got := y.At(idx...); got != want {
						t.Errorf("padded%v = %v, want %v", idx, got, want)
					}
				}
			}
		})
	}
}

func TestPackSequenceAndPadSequence(t *testing.T) {
	seqs := []*tensor.Tensor{
		tensor.FromSlice([]float64{1, 2, 3, 4}, 2, 2),
		tensor.FromSlice([]float64{5, 6, 7, 8, 9, 10}, 3, 2),
		tensor.FromSlice([]float64{11, 12}, 1, 2),
	}
	padded := nn.PadSequence(seqs, true, 0)
	want := []float64{1, 2, 3, 4, 0, 0, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 0}
	if !slices.Equal(padded.Shape(), []int{3, 3, 2}) || !slices.Equal(padded.Float64s(), want) {
		t.Errorf("PadSequence batch first = %v %v, want [3 3 2] %v", padded.Shape(), padded.Float64s(), want)
	}
	if got := nn.PadSequence(seqs, false, 0); !slices.Equal(got.Shape(), []int{3, 3, 2}) || got.At(0, 1, 0) != 5 || got.At(2, 0, 1) != 0 {
		t.Errorf("PadSequence time-major = %v", got)
	}
	p := nn.PackSequence(seqs, false)
	if !slices.Equal(p.BatchSizes, []int{3, 2, 1}) || !slices.Equal(p.SortedIndices, []int{1, 0, 2}) {
		t.Errorf("PackSequence: batch sizes %v, sorted %v", p.BatchSizes, p.SortedIndices)
	}
	wantData := []float64{5, 6, 1, 2, 11, 12, 7, 8, 3, 4, 9, 10}
	if !slices.Equal(p.Data.Float64s(), wantData) {
		t.Errorf("PackSequence data %v, want %v", p.Data.Float64s(), wantData)
	}
}

func TestPackedSequenceBadInput(t *testing.T) {
	x := tensor.Zeros(4, 3, 2)
	tests := []struct {
		name string
		f    func()
	}{
		{"too few lengths", func() { nn.PackPaddedSequence(x, []int{2, 2}, false, false) }},
		{"zero length", func() { nn.PackPaddedSequence(x, []int{2, 0, 1}, false, false) }},
		{"too long", func() { nn.PackPaddedSequence(x, []int{5, 2, 1}, false, false) }},
		{"not sorted", func() { nn.PackPaddedSequence(x, []int{2, 3, 1}, false, true) }},
		{"1-d input", func() { nn.PackPaddedSequence(tensor.Zeros(3), []int{1, 1, 1}, false, false) }},
		{"short total length", func() {
			nn.PadPackedSequence(nn.PackPaddedSequence(x, []int{4, 2, 1}, false, true), false, 0, 3)
		}},
		{"inconsistent packed", func() {
			nn.PadPackedSequence(&nn.PackedSequence{Data: tensor.Zeros(5, 2), BatchSizes: []int{2, 2}}, false, 0, 0)
		}},
		{"growing batch sizes", func() {
			nn.PadPackedSequence(&nn.PackedSequence{Data: tensor.Zeros(5, 2), BatchSizes: []int{2, 3}}, false, 0, 0)
		}},
	}
	for _, tc := range tests {
		err := tensor.Try(tc.f)
		if !errors.Is(err, tensor.ErrShape) {
			t.Errorf("%s: error %v, want a shape error", tc.name, err)
		}
	}
}

// TestRNNPackedEqualLengthsMatchPadded: with every sequence full length a
// packed batch must give exactly the padded forward pass.
func TestRNNPackedEqualLengthsMatchPadded(t *testing.T) {
	for _, mode := range []string{"rnn_relu", "lstm", "gru"} {
		gen := tensor.NewGenerator(7)
		layer, _ := newTestRNN(mode, 3, 4, nn.RNNConfig{Layers: 2, Bidirectional: true, Generator: gen})
		x := gen.Normal(tensor.Float32, 0, 1, 5, 3, 3)
		h0 := gen.Normal(tensor.Float32, 0, 1, 4, 3, 4)
		var c0 *tensor.Tensor
		if mode == "lstm" {
			c0 = gen.Normal(tensor.Float32, 0, 1, 4, 3, 4)
		}
		out, hN, cN := layer.state(x, h0, c0)
		p, phN, pcN := layer.packed(nn.PackPaddedSequence(x, []int{5, 5, 5}, false, false), h0, c0)
		pout, _ := nn.PadPackedSequence(p, false, 0, 0)
		rnnClose(t, mode+" output", pout, out, 1e-6)
		rnnClose(t, mode+" h", phN, hN, 1e-6)
		if c0 != nil {
			rnnClose(t, mode+" c", pcN, cN, 1e-6)
		}
	}
}

func rnnClose(t *testing.T, what string, got, want *tensor.Tensor, tol float64) {
	t.Helper()
	if !slices.Equal(got.Shape(), want.Shape()) {
		t.Errorf("%s: shape %v, want %v", what, got.Shape(), want.Shape())
		return
	}
	g, w := got.Float64s(), want.Float64s()
	for i := range w {
		if math.Abs(g[i]-w[i]) > tol*(1+math.Abs(w[i])) {
			t.Errorf("%s[%d] = %v, want %v", what, i, g[i], w[i])
			return
		}
	}
}

// TestRNNGradCheck checks the gradients of the packed, bidirectional,
// two-layer forward pass (input, initial states and a weight; outputs and
// final states) against finite differences in float64.
func TestRNNGradCheck(t *testing.T) {
	for _, mode := range []string{"rnn_tanh", "lstm", "gru"} {
		t.Run(mode, func(t *testing.T) {
			gen := tensor.NewGenerator(3)
			layer, m := newTestRNN(mode, 2, 2, nn.RNNConfig{Layers: 2, Bidirectional: true, Generator: gen})
			nn.To(m, tensor.Float64)
			x := gen.Normal(tensor.Float64, 0, 1, 3, 3, 2).SetRequiresGrad(true)
			h0 := gen.Normal(tensor.Float64, 0, 1, 4, 3, 2).SetRequiresGrad(true)
			in := []*tensor.Tensor{x, h0}
			if mode == "lstm" {
				in = append(in, gen.Normal(tensor.Float64, 0, 1, 4, 3, 2).SetRequiresGrad(true))
			}
			w := nn.NamedParameters(m)[5].P.Tensor // weight_hh_l0_reverse
			in = append(in, w)
			f := func(in []*tensor.Tensor) *tensor.Tensor {
				var c0 *tensor.Tensor
				if mode == "lstm" {
					c0 = in[2]
				}
				p, hN, cN := layer.packed(nn.PackPaddedSequence(in[0], []int{2, 3, 1}, false, false), in[1], c0)
				out, _ := nn.PadPackedSequence(p, false, 0, 0)
				parts := []*tensor.Tensor{out.Reshape(-1), hN.Reshape(-1)}
				if cN != nil {
					parts = append(parts, cN.Reshape(-1))
				}
				// a random projection to 3 outputs keeps the number of
				// backward passes small
				flat := tensor.Cat(parts, 0)
				proj := tensor.NewGenerator(9).Normal(tensor.Float64, 0, 1, flat.Numel(), 3)
				return flat.MatMul(proj)
			}
			if err := autograd.GradCheck(f, in); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestRNNDropoutBetweenLayers: dropout acts on every layer's output but
// the last, in training only, as F.Dropout (zero with probability p, scale
// the rest by 1/(1−p)) drawn from the layer's generator.
func TestRNNDropoutBetweenLayers(t *testing.T) {
	const p = 0.5
	for _, mode := range []string{"rnn_tanh", "lstm", "gru"} {
		t.Run(mode, func(t *testing.T) {
			gen := tensor.NewGenerator(11)
			layer, m := newTestRNN(mode, 3, 4, nn.RNNConfig{Layers: 2, Dropout: p, Generator: gen})
			x := tensor.NewGenerator(5).Normal(tensor.Float32, 0, 1, 6, 2, 3)

			// the two layers apart, without dropout
			layer0, m0 := newTestRNN(mode, 3, 4, nn.RNNConfig{})
			layer1, m1 := newTestRNN(mode, 4, 4, nn.RNNConfig{})
			sd := nn.StateDict(m)
			sd0, sd1 := map[string]*tensor.Tensor{}, map[string]*tensor.Tensor{}
			for k, v := range sd {
				if strings.HasSuffix(k, "_l0") {
					sd0[k] = v
				} else {
					sd1[strings.TrimSuffix(k, "_l1")+"_l0"] = v
				}
			}
			if err := nn.LoadStateDict(m0, sd0, true); err != nil {
				t.Fatal(err)
			}
			if err := nn.LoadStateDict(m1, sd1, true); err != nil {
				t.Fatal(err)
			}
			mid, _, _ := layer0.state(x, nil, nil)

			nn.Eval(m)
			evalOut, _, _ := layer.state(x, nil, nil)
			plain, _, _ := layer1.state(mid, nil, nil)
			rnnClose(t, "eval output", evalOut, plain, 1e-6)

			nn.Train(m)
			seed, off := gen.State()
			twin := tensor.NewGenerator(0)
			twin.SetState(seed, off)
			trainOut, _, _ := layer.state(x, nil, nil)
			dropped := F.Dropout(mid, p, true, twin)
			zeros := 0
			for i, v := range dropped.Float64s() {
				if v == 0 {
					zeros++
				} else if m := mid.Float64s()[i]; math.Abs(v-2*m) > 1e-6 {
					t.Fatalf("kept element %d is %v, want 2×%v", i, v, m)
				}
			}
			if zeros == 0 || zeros == mid.Numel() {
				t.Fatalf("%d of %d elements dropped", zeros, mid.Numel())
			}
			want, _, _ := layer1.state(dropped, nil, nil)
			rnnClose(t, "training output", trainOut, want, 1e-6)
			if d := trainOut.Sub(evalOut).Abs().Amax().Item(); d < 1e-3 {
				t.Errorf("training output equals eval output (max diff %v)", d)
			}

			// one layer: nothing to drop between
			single, sm := newTestRNN(mode, 3, 4, nn.RNNConfig{Dropout: 1, Generator: gen})
			nn.Train(sm)
			a, _, _ := single.state(x, nil, nil)
			nn.Eval(sm)
			b, _, _ := single.state(x, nil, nil)
			rnnClose(t, "one layer train vs eval", a, b, 0)
		})
	}
}

func TestRNNParametersAndInit(t *testing.T) {
	tests := []struct {
		mode   string
		cfg    nn.RNNConfig
		names  []string
		shapes [][]int
	}{
		{"rnn_tanh", nn.RNNConfig{}, []string{"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"},
			[][]int{{4, 3}, {4, 4}, {4}, {4}}},
		{"lstm", nn.RNNConfig{Layers: 2, Bidirectional: true, NoBias: true},
			[]string{"weight_ih_l0", "weight_hh_l0", "weight_ih_l0_reverse", "weight_hh_l0_reverse",
				"weight_ih_l1", "weight_hh_l1", "weight_ih_l1_reverse", "weight_hh_l1_reverse"},
			[][]int{{16, 3}, {16, 4}, {16, 3}, {16, 4}, {16, 8}, {16, 4}, {16, 8}, {16, 4}}},
		{"lstm", nn.RNNConfig{ProjSize: 2},
			[]string{"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0"},
			[][]int{{16, 3}, {16, 2}, {16}, {16}, {2, 4}}},
		{"gru", nn.RNNConfig{Layers: 2},
			[]string{"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
				"weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1"},
			[][]int{{12, 3}, {12, 4}, {12}, {12}, {12, 4}, {12, 4}, {12}, {12}}},
	}
	for _, tc := range tests {
		tensor.ManualSeed(1)
		_, m := newTestRNN(tc.mode, 3, 4, tc.cfg)
		named := nn.NamedParameters(m)
		if len(named) != len(tc.names) {
			t.Errorf("%s %+v: %d parameters, want %d", tc.mode, tc.cfg, len(named), len(tc.names))
			continue
		}
		for i, n := range named {
			if n.Name != tc.names[i] || !slices.Equal(n.P.Shape(), tc.shapes[i]) {
				t.Errorf("%s parameter %d: %s %v, want %s %v", tc.mode, i, n.Name, n.P.Shape(), tc.names[i], tc.shapes[i])
			}
			if n.P.DType() != tensor.Float32 || !n.P.RequiresGrad() {
				t.Errorf("%s: %s is %v, requires grad %v", tc.mode, n.Name, n.P.DType(), n.P.RequiresGrad())
			}
			// U(−1/√4, 1/√4), spread over the range
			v := n.P.Float64s()
			if lo, hi := slices.Min(v), slices.Max(v); lo < -0.5 || hi >= 0.5 || hi-lo < 0.3 {
				t.Errorf("%s: %s drawn in [%v, %v], want U(-0.5, 0.5)", tc.mode, n.Name, lo, hi)
			}
		}
		if keys := nn.StateDictKeys(m); !slices.Equal(keys, tc.names) {
			t.Errorf("state dict keys %v, want %v", keys, tc.names)
		}
		// reseeding gives the same weights
		tensor.ManualSeed(1)
		_, again := newTestRNN(tc.mode, 3, 4, tc.cfg)
		for i, n := range nn.NamedParameters(again) {
			if !slices.Equal(n.P.Float64s(), named[i].P.Float64s()) {
				t.Errorf("%s: %s differs after reseeding", tc.mode, n.Name)
			}
		}
	}
	cell := nn.NewGRUCell(3, 4, nn.RNNCellConfig{Generator: tensor.NewGenerator(1)})
	if keys := nn.StateDictKeys(cell); !slices.Equal(keys, []string{"weight_ih", "weight_hh", "bias_ih", "bias_hh"}) {
		t.Errorf("GRUCell keys %v", keys)
	}
}

// TestRNNForwardIsStateForward: Forward is the output of ForwardState from
// zero states, and zero initial states are the same as none.
func TestRNNForwardIsStateForward(t *testing.T) {
	gen := tensor.NewGenerator(2)
	x := gen.Normal(tensor.Float32, 0, 1, 2, 4, 3)
	for _, mode := range []string{"rnn_relu", "lstm", "gru"} {
		layer, m := newTestRNN(mode, 3, 5, nn.RNNConfig{BatchFirst: true, Bidirectional: true, Generator: gen})
		fwd := m.(nn.Layer).Forward(x)
		out, hN, cN := layer.state(x, nil, nil)
		rnnClose(t, mode+" Forward", fwd, out, 0)
		var c0 *tensor.Tensor
		if cN != nil {
			c0 = tensor.Zeros(2, 2, 5)
		}
		out2, hN2, _ := layer.state(x, tensor.Zeros(2, 2, 5), c0)
		rnnClose(t, mode+" zero h0 output", out2, out, 0)
		rnnClose(t, mode+" zero h0 state", hN2, hN, 0)
		if !slices.Equal(out.Shape(), []int{2, 4, 10}) || !slices.Equal(hN.Shape(), []int{2, 2, 5}) {
			t.Errorf("%s: output %v, h %v", mode, out.Shape(), hN.Shape())
		}
	}
}

func TestRNNBadInput(t *testing.T) {
	lstm := nn.NewLSTM(3, 4, nn.RNNConfig{Layers: 2})
	gru := nn.NewGRU(3, 4)
	tests := []struct {
		name, want string
		f          func()
	}{
		{"input features", "nn.LSTM", func() { lstm.Forward(tensor.Zeros(5, 2, 4)) }},
		{"input rank", "nn.GRU", func() { gru.Forward(tensor.Zeros(5, 2, 3, 1)) }},
		{"h0 shape", "h0", func() { lstm.ForwardState(tensor.Zeros(5, 2, 3), tensor.Zeros(1, 2, 4), nil) }},
		{"c0 shape", "c0", func() { lstm.ForwardState(tensor.Zeros(5, 2, 3), nil, tensor.Zeros(2, 3, 4)) }},
		{"unbatched h0", "h0", func() { gru.ForwardState(tensor.Zeros(5, 3), tensor.Zeros(1, 1, 4)) }},
		{"packed features", "nn.GRU", func() {
			gru.ForwardPacked(nn.PackPaddedSequence(tensor.Zeros(4, 2, 2), []int{4, 1}, false, true), nil)
		}},
		{"no steps", "time steps", func() { gru.Forward(tensor.Zeros(0, 2, 3)) }},
		{"nonlinearity", "nonlinearity", func() { nn.NewRNN(3, 4, nn.RNNConfig{Nonlinearity: "sigmoid"}) }},
		{"GRU projection", "ProjSize", func() { nn.NewGRU(3, 4, nn.RNNConfig{ProjSize: 2}) }},
		{"projection too big", "ProjSize", func() { nn.NewLSTM(3, 4, nn.RNNConfig{ProjSize: 4}) }},
		{"hidden size", "hidden size", func() { nn.NewLSTM(3, 0) }},
		{"dropout", "dropout", func() { nn.NewGRU(3, 4, nn.RNNConfig{Dropout: 1.5}) }},
		{"cell input", "nn.LSTMCell", func() { nn.NewLSTMCell(3, 4).Forward(tensor.Zeros(2, 4)) }},
		{"cell state", "nn.GRUCell", func() { nn.NewGRUCell(3, 4).ForwardState(tensor.Zeros(2, 3), tensor.Zeros(3, 4)) }},
	}
	for _, tc := range tests {
		err := tensor.Try(tc.f)
		if !errors.Is(err, tensor.ErrShape) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want a shape error mentioning %q", tc.name, err, tc.want)
		}
	}
	err := tensor.Try(func() { gru.Forward(tensor.ZerosOf(tensor.Float64, 5, 2, 3)) })
	if !errors.Is(err, tensor.ErrDType) || !strings.Contains(err.Error(), "nn.GRU") {
		t.Errorf("float64 input to a float32 GRU: error %v, want a dtype error", err)
	}
}

// TestRNNConcurrentForward runs one model from many goroutines; run with
// -race.
func TestRNNConcurrentForward(t *testing.T) {
	m := nn.NewLSTM(3, 4, nn.RNNConfig{Bidirectional: true, Generator: tensor.NewGenerator(1)})
	x := tensor.NewGenerator(2).Normal(tensor.Float32, 0, 1, 4, 2, 3)
	want := m.Forward(x).Float64s()
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := m.Forward(x)
			if !slices.Equal(out.Float64s(), want) {
				errs <- "output differs"
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
