package nn

import (
	"fmt"
	"math"
	"strconv"

	"github.com/tapir-ml/tapir/autograd"
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

// RNNConfig holds the options of [RNN], [LSTM] and [GRU]; its zero value
// is torch's default (one layer, unidirectional, time-major, with biases,
// no dropout, tanh).
type RNNConfig struct {
	Layers        int     // stacked layers (torch's num_layers); 0 means 1
	Bidirectional bool    // run a second, reversed pass per layer and concatenate
	BatchFirst    bool    // input and output are [N, L, *] rather than [L, N, *]
	Dropout       float64 // dropout on the outputs of every layer but the last, in training only
	NoBias        bool    // no bias_ih / bias_hh (torch's bias=False)
	// Nonlinearity is RNN's activation, "tanh" (the default, also "") or
	// "relu"; LSTM and GRU take none.
	Nonlinearity string
	// ProjSize, LSTM only, projects each hidden state to ProjSize features
	// with weight_hr (torch's proj_size); 0 means no projection.
	ProjSize int
	// Generator draws the initial weights and the dropout masks; nil means
	// tensor.DefaultGenerator().
	Generator *tensor.Generator
}

// RNNWeights holds one layer's parameters in one direction, as torch names
// them with the suffix _l{layer} and, for the reversed direction,
// _reverse: weight_ih [G·H, in], weight_hh [G·H, Hout], bias_ih and
// bias_hh [G·H] (nil with NoBias), and, for an LSTM with a projection,
// weight_hr [ProjSize, H]. G is 1 for RNN, 4 for LSTM (gates i, f, g, o)
// and 3 for GRU (gates r, z, n); Hout is ProjSize when set, else H.
type RNNWeights struct {
	WeightIH, WeightHH *Parameter
	BiasIH, BiasHH     *Parameter
	WeightHR           *Parameter
}

// RNNBase is what RNN, LSTM and GRU share (torch.nn.RNNBase): sizes,
// options, and the parameters of each layer and direction. The exported
// fields describe the layer and are read-only after construction, except
// BatchFirst and Dropout, which may be changed between forward passes.
//
// It implements [MemberLister], so the parameters are named as torch
// names them (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, then
// the same with _reverse, then layer 1…), and embeds [Mode] for
// [Train] and [Eval].
type RNNBase struct {
	Mode
	InputSize, HiddenSize int
	NumLayers             int
	Bidirectional         bool
	BatchFirst            bool
	Dropout               float64
	Nonlinearity          string // "tanh" or "relu" for RNN, "" for LSTM and GRU
	ProjSize              int    // LSTM's projection size, 0 for none
	// Weights holds layer l's parameters in direction d (0 forward, 1
	// reversed) at index l·D + d, D being 2 when Bidirectional, else 1.
	Weights []RNNWeights

	kind rnnKind
	gen  *tensor.Generator
}

// RNN is a stack of Elman recurrent layers (torch.nn.RNN):
//
//	h_t = act(x_t·W_ihᵀ + b_ih + h_{t−1}·W_hhᵀ + b_hh)
//
// with act tanh or ReLU. Input [L, N, InputSize] ([N, L, InputSize] with
// BatchFirst, or [L, InputSize] unbatched); output [L, N, D·HiddenSize],
// the last layer's hidden states at every step, both directions
// concatenated (D = 2 when Bidirectional); final hidden state
// [NumLayers·D, N, HiddenSize].
type RNN struct{ RNNBase }

// LSTM is a stack of long short-term memory layers (torch.nn.LSTM):
//
//	i, f, g, o = σ, σ, tanh, σ of x_t·W_ihᵀ + b_ih + h_{t−1}·W_hhᵀ + b_hh
//	c_t = f ⊙ c_{t−1} + i ⊙ g
//	h_t = o ⊙ tanh(c_t)            (then h_t·W_hrᵀ with ProjSize)
//
// with the gates stacked in the order i, f, g, o in the weights. Shapes as
// [RNN], with Hout = ProjSize when set, else HiddenSize: output
// [L, N, D·Hout], final h [NumLayers·D, N, Hout], final c
// [NumLayers·D, N, HiddenSize].
type LSTM struct{ RNNBase }

// GRU is a stack of gated recurrent unit layers (torch.nn.GRU):
//
//	r = σ(W_ir x + b_ir + W_hr h + b_hr)
//	z = σ(W_iz x + b_iz + W_hz h + b_hz)
//	n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
//	h' = (1 − z) ⊙ n + z ⊙ h
//
// with the gates stacked in the order r, z, n in the weights. Shapes as
// [RNN].
type GRU struct{ RNNBase }

// rnnKind is the cell a recurrent layer runs.
type rnnKind int

const (
	rnnTanh rnnKind = iota
	rnnReLU
	rnnLSTM
	rnnGRU
)

// gates is how many blocks of HiddenSize rows the weights stack.
func (k rnnKind) gates() int {
	switch k {
	case rnnLSTM:
		return 4
	case rnnGRU:
		return 3
	}
	return 1
}

func (k rnnKind) String() string {
	switch k {
	case rnnLSTM:
		return "LSTM"
	case rnnGRU:
		return "GRU"
	}
	return "RNN"
}

// rnnPanic panics with a *tensor.Error naming the layer, so that
// tensor.Try recovers it like any other programmer error.
func rnnPanic(layer string, kind error, format string, args ...any) {
	panic(&tensor.Error{Op: "nn." + layer, Kind: kind, Msg: fmt.Sprintf(format, args...)})
}

// NewRNN returns an Elman RNN from inputSize to hiddenSize features
// (torch.nn.RNN), with tanh unless cfg says "relu". Every parameter is
// drawn from U(−1/√hiddenSize, 1/√hiddenSize), as torch's
// reset_parameters does.
func NewRNN(inputSize, hiddenSize int, cfg ...RNNConfig) *RNN {
	c := rnnConfig(cfg)
	kind := rnnTanh
	switch c.Nonlinearity {
	case "", "tanh":
	case "relu":
		kind = rnnReLU
	default:
		rnnPanic("RNN", tensor.ErrShape, "unknown nonlinearity %q: want \"tanh\" or \"relu\"", c.Nonlinearity)
	}
	return &RNN{newRNNBase(kind, inputSize, hiddenSize, c)}
}

// NewLSTM returns an LSTM from inputSize to hiddenSize features
// (torch.nn.LSTM), initialized as [NewRNN] is.
func NewLSTM(inputSize, hiddenSize int, cfg ...RNNConfig) *LSTM {
	return &LSTM{newRNNBase(rnnLSTM, inputSize, hiddenSize, rnnConfig(cfg))}
}

// NewGRU returns a GRU from inputSize to hiddenSize features
// (torch.nn.GRU), initialized as [NewRNN] is.
func NewGRU(inputSize, hiddenSize int, cfg ...RNNConfig) *GRU {
	return &GRU{newRNNBase(rnnGRU, inputSize, hiddenSize, rnnConfig(cfg))}
}

func rnnConfig(cfg []RNNConfig) RNNConfig {
	if len(cfg) > 0 {
		return cfg[0]
	}
	return RNNConfig{}
}

func newRNNBase(kind rnnKind, inputSize, hiddenSize int, c RNNConfig) RNNBase {
	name := kind.String()
	if inputSize <= 0 || hiddenSize <= 0 {
		rnnPanic(name, tensor.ErrShape, "input size %d and hidden size %d must be positive", inputSize, hiddenSize)
	}
	layers := c.Layers
	if layers == 0 {
		layers = 1
	}
	if layers < 0 {
		rnnPanic(name, tensor.ErrShape, "number of layers %d must be positive", c.Layers)
	}
	if !(c.Dropout >= 0 && c.Dropout <= 1) {
		rnnPanic(name, tensor.ErrShape, "dropout %v must be a probability in [0, 1]", c.Dropout)
	}
	if kind == rnnLSTM || kind == rnnGRU {
		if c.Nonlinearity != "" {
			rnnPanic(name, tensor.ErrShape, "Nonlinearity %q applies to RNN only", c.Nonlinearity)
		}
	}
	if c.ProjSize != 0 {
		if kind != rnnLSTM {
			rnnPanic(name, tensor.ErrShape, "ProjSize is only supported for LSTM")
		}
		if c.ProjSize < 0 || c.ProjSize >= hiddenSize {
			rnnPanic(name, tensor.ErrShape, "ProjSize %d must be in [1, hidden size %d)", c.ProjSize, hiddenSize)
		}
	}
	r := RNNBase{
		InputSize:     inputSize,
		HiddenSize:    hiddenSize,
		NumLayers:     layers,
		Bidirectional: c.Bidirectional,
		BatchFirst:    c.BatchFirst,
		Dropout:       c.Dropout,
		ProjSize:      c.ProjSize,
		kind:          kind,
		gen:           c.Generator,
	}
	switch kind {
	case rnnTanh:
		r.Nonlinearity = "tanh"
	case rnnReLU:
		r.Nonlinearity = "relu"
	}
	gen := c.Generator
	if gen == nil {
		gen = tensor.DefaultGenerator()
	}
	bound := 1 / math.Sqrt(float64(hiddenSize))
	draw := func(shape ...int) *Parameter {
		return NewParameter(gen.Uniform(tensor.Float32, -bound, bound, shape...))
	}
	g := kind.gates() * hiddenSize
	hout := r.outSize()
	d := r.dirs()
	r.Weights = make([]RNNWeights, layers*d)
	for l := range layers {
		in := inputSize
		if l > 0 {
			in = d * hout
		}
		for dir := range d {
			w := &r.Weights[l*d+dir]
			w.WeightIH = draw(g, in)
			w.WeightHH = draw(g, hout)
			if !c.NoBias {
				w.BiasIH = draw(g)
				w.BiasHH = draw(g)
			}
			if r.ProjSize > 0 {
				w.WeightHR = draw(r.ProjSize, hiddenSize)
			}
		}
	}
	return r
}

// dirs is D: 2 when bidirectional, else 1.
func (r *RNNBase) dirs() int {
	if r.Bidirectional {
		return 2
	}
	return 1
}

// outSize is Hout, the size of the hidden state h: ProjSize or HiddenSize.
func (r *RNNBase) outSize() int {
	if r.ProjSize > 0 {
		return r.ProjSize
	}
	return r.HiddenSize
}

// Members names the parameters as torch does: for each layer l and
// direction, weight_ih_l{l}, weight_hh_l{l}, bias_ih_l{l}, bias_hh_l{l}
// and weight_hr_l{l}, with the suffix _reverse for the reversed direction.
func (r *RNNBase) Members() []Member {
	var ms []Member
	d := r.dirs()
	for i := range r.Weights {
		w := &r.Weights[i]
		suffix := "_l" + strconv.Itoa(i/d)
		if i%d == 1 {
			suffix += "_reverse"
		}
		for _, p := range []struct {
			name string
			p    *Parameter
		}{
			{"weight_ih", w.WeightIH},
			{"weight_hh", w.WeightHH},
			{"bias_ih", w.BiasIH},
			{"bias_hh", w.BiasHH},
			{"weight_hr", w.WeightHR},
		} {
			if p.p != nil {
				ms = append(ms, Member{Name: p.name + suffix, Param: p.p})
			}
		}
	}
	return ms
}

// Forward runs the RNN on x from a zero initial state and returns the
// output (see [RNN.ForwardState]).
func (r *RNN) Forward(x *tensor.Tensor) *tensor.Tensor {
	out, _, _ := r.run(x, nil, nil)
	return out
}

// ForwardState runs the RNN on x ([L, N, InputSize], [N, L, InputSize]
// with BatchFirst, or [L, InputSize] unbatched) from the initial hidden
// state h0 ([NumLayers·D, N, HiddenSize], or [NumLayers·D, HiddenSize]
// unbatched; nil means zeros). It returns the output, [L, N, D·HiddenSize]
// ([N, L, …] with BatchFirst, [L, …] unbatched), and the hidden state
// after the last step of every layer and direction, shaped as h0, as
// torch's rnn(x, h0) does.
func (r *RNN) ForwardState(x, h0 *tensor.Tensor) (out, hN *tensor.Tensor) {
	out, hN, _ = r.run(x, h0, nil)
	return out, hN
}

// ForwardPacked runs the RNN on a batch of variable-length sequences and
// returns the output packed the same way, and the hidden state of each
// sequence after its own last step. h0 and hN are
// [NumLayers·D, N, HiddenSize] in the batch's original order; nil h0
// means zeros.
func (r *RNN) ForwardPacked(p *PackedSequence, h0 *tensor.Tensor) (*PackedSequence, *tensor.Tensor) {
	out, hN, _ := r.runPacked(p, h0, nil)
	return out, hN
}

// Forward runs the LSTM on x from a zero initial state and returns the
// output (see [LSTM.ForwardState]).
func (r *LSTM) Forward(x *tensor.Tensor) *tensor.Tensor {
	out, _, _ := r.run(x, nil, nil)
	return out
}

// ForwardState runs the LSTM on x ([L, N, InputSize], [N, L, InputSize]
// with BatchFirst, or [L, InputSize] unbatched) from the initial states
// h0 ([NumLayers·D, N, Hout]) and c0 ([NumLayers·D, N, HiddenSize]),
// without the N dim when unbatched; nil means zeros. It returns the
// output, [L, N, D·Hout] ([N, L, …] with BatchFirst, [L, …] unbatched),
// and the states after the last step of every layer and direction, shaped
// as h0 and c0: torch's lstm(x, (h0, c0)).
func (r *LSTM) ForwardState(x, h0, c0 *tensor.Tensor) (out, hN, cN *tensor.Tensor) {
	return r.run(x, h0, c0)
}

// ForwardPacked runs the LSTM on a batch of variable-length sequences and
// returns the output packed the same way, and the states of each sequence
// after its own last step. The states are in the batch's original order,
// shaped as for [LSTM.ForwardState]; nil h0 or c0 means zeros.
func (r *LSTM) ForwardPacked(p *PackedSequence, h0, c0 *tensor.Tensor) (out *PackedSequence, hN, cN *tensor.Tensor) {
	return r.runPacked(p, h0, c0)
}

// Forward runs the GRU on x from a zero initial state and returns the
// output (see [GRU.ForwardState]).
func (r *GRU) Forward(x *tensor.Tensor) *tensor.Tensor {
	out, _, _ := r.run(x, nil, nil)
	return out
}

// ForwardState runs the GRU on x from the initial hidden state h0 (nil
// means zeros) and returns the output and the final hidden state, with the
// shapes of [RNN.ForwardState].
func (r *GRU) ForwardState(x, h0 *tensor.Tensor) (out, hN *tensor.Tensor) {
	out, hN, _ = r.run(x, h0, nil)
	return out, hN
}

// ForwardPacked runs the GRU on a batch of variable-length sequences, as
// [RNN.ForwardPacked].
func (r *GRU) ForwardPacked(p *PackedSequence, h0 *tensor.Tensor) (*PackedSequence, *tensor.Tensor) {
	out, hN, _ := r.runPacked(p, h0, nil)
	return out, hN
}

// checkState panics unless s (when given) has the shape want.
func (r *RNNBase) checkState(what string, s *tensor.Tensor, want ...int) {
	if s == nil {
		return
	}
	sh := s.Shape()
	ok := len(sh) == len(want)
	for i := 0; ok && i < len(sh); i++ {
		ok = sh[i] == want[i]
	}
	if !ok {
		rnnPanic(r.kind.String(), tensor.ErrShape, "%s is %v, want %v", what, sh, want)
	}
}

// checkDType panics unless the input and the states have the weights'
// dtype, as torch requires.
func (r *RNNBase) checkDType(x, h0, c0 *tensor.Tensor) {
	want := r.Weights[0].WeightIH.DType()
	for _, t := range []*tensor.Tensor{x, h0, c0} {
		if t != nil && t.DType() != want {
			rnnPanic(r.kind.String(), tensor.ErrDType, "input and states must have the weights' dtype %v, got %v", want, t.DType())
		}
	}
}

// run is the padded (or unbatched) forward pass.
func (r *RNNBase) run(x, h0, c0 *tensor.Tensor) (out, hN, cN *tensor.Tensor) {
	name := r.kind.String()
	if x.Dim() != 2 && x.Dim() != 3 {
		rnnPanic(name, tensor.ErrShape, "input %v must be 3-d [L, N, H_in] (batched) or 2-d [L, H_in] (unbatched)", x.Shape())
	}
	if x.Size(-1) != r.InputSize {
		rnnPanic(name, tensor.ErrShape, "input %v has %d features, want input size %d", x.Shape(), x.Size(-1), r.InputSize)
	}
	r.checkDType(x, h0, c0)
	ld := r.NumLayers * r.dirs()
	batched := x.Dim() == 3
	if batched {
		if r.BatchFirst {
			x = x.Transpose(0, 1)
		}
		n := x.Size(1)
		r.checkState("h0", h0, ld, n, r.outSize())
		r.checkState("c0", c0, ld, n, r.HiddenSize)
	} else {
		r.checkState("h0", h0, ld, r.outSize())
		r.checkState("c0", c0, ld, r.HiddenSize)
		x = x.Unsqueeze(1)
		if h0 != nil {
			h0 = h0.Unsqueeze(1)
		}
		if c0 != nil {
			c0 = c0.Unsqueeze(1)
		}
	}
	steps, n := x.Size(0), x.Size(1)
	if steps == 0 {
		rnnPanic(name, tensor.ErrShape, "input %v has no time steps", x.Shape())
	}
	bs := make([]int, steps)
	for t := range bs {
		bs[t] = n
	}
	o, hN, cN := r.forward(x.Reshape(steps*n, r.InputSize), bs, h0, c0)
	out = o.Reshape(steps, n, o.Size(1))
	switch {
	case !batched:
		out = out.Squeeze(1)
		hN = hN.Squeeze(1)
		if cN != nil {
			cN = cN.Squeeze(1)
		}
	case r.BatchFirst:
		out = out.Transpose(0, 1)
	}
	return out, hN, cN
}

// runPacked is the forward pass over a PackedSequence.
func (r *RNNBase) runPacked(p *PackedSequence, h0, c0 *tensor.Tensor) (*PackedSequence, *tensor.Tensor, *tensor.Tensor) {
	name := r.kind.String()
	p.check("nn." + name)
	if p.Data.Dim() != 2 || p.Data.Size(1) != r.InputSize {
		rnnPanic(name, tensor.ErrShape, "packed data %v must be [Σ lengths, input size %d]", p.Data.Shape(), r.InputSize)
	}
	r.checkDType(p.Data, h0, c0)
	ld, n := r.NumLayers*r.dirs(), p.BatchSizes[0]
	r.checkState("h0", h0, ld, n, r.outSize())
	r.checkState("c0", c0, ld, n, r.HiddenSize)
	if p.SortedIndices != nil {
		idx := packedIndex(p.SortedIndices, p.Data.Device())
		if h0 != nil {
			h0 = h0.IndexSelect(1, idx)
		}
		if c0 != nil {
			c0 = c0.IndexSelect(1, idx)
		}
	}
	o, hN, cN := r.forward(p.Data, p.BatchSizes, h0, c0)
	if p.UnsortedIndices != nil {
		idx := packedIndex(p.UnsortedIndices, p.Data.Device())
		hN = hN.IndexSelect(1, idx)
		if cN != nil {
			cN = cN.IndexSelect(1, idx)
		}
	}
	out := &PackedSequence{Data: o, BatchSizes: p.BatchSizes, SortedIndices: p.SortedIndices, UnsortedIndices: p.UnsortedIndices}
	return out, hN, cN
}

// forward runs every layer over x, [Σ bs, InputSize], whose rows are
// time-major: bs[t] rows for step t, bs non-increasing
// (a padded batch has bs[t] = N for every t). h0 and c0 are
// [NumLayers·D, bs[0], *] or nil. It returns the last layer's output
// [Σ bs, D·Hout] laid out as x, and the final states.
func (r *RNNBase) forward(x *tensor.Tensor, bs []int, h0, c0 *tensor.Tensor) (out, hN, cN *tensor.Tensor) {
	d, n := r.dirs(), bs[0]
	var zeroH, zeroC *tensor.Tensor
	if h0 == nil {
		zeroH = tensor.ZerosOf(x.DType(), n, r.outSize()).ToDevice(x.Device())
	}
	if c0 == nil && r.kind == rnnLSTM {
		zeroC = tensor.ZerosOf(x.DType(), n, r.HiddenSize).ToDevice(x.Device())
	}
	hs := make([]*tensor.Tensor, 0, len(r.Weights))
	var cs []*tensor.Tensor
	in := x
	for l := range r.NumLayers {
		if l > 0 {
			in = F.Dropout(in, r.Dropout, r.Training(), r.gen)
		}
		outs := make([]*tensor.Tensor, d)
		for dir := range d {
			k := l*d + dir
			h, c := zeroH, zeroC
			if h0 != nil {
				h = h0.Select(0, k)
			}
			if c0 != nil {
				c = c0.Select(0, k)
			}
			p := rnnPrepare(r.kind, &r.Weights[k], r.HiddenSize)
			var hn, cn *tensor.Tensor
			outs[dir], hn, cn = p.sequence(in, bs, h, c, dir == 1)
			hs = append(hs, hn)
			if cn != nil {
				cs = append(cs, cn)
			}
		}
		in = outs[0]
		if d > 1 {
			in = tensor.Cat(outs, 1)
		}
	}
	hN = tensor.Stack(hs, 0)
	if cs != nil {
		cN = tensor.Stack(cs, 0)
	}
	return in, hN, cN
}

// rnnPrepared is one layer-direction's weights made ready for the
// recurrence: the weights transposed (views) and the biases folded.
type rnnPrepared struct {
	kind          rnnKind
	hidden        int
	wih, whh, whr *tensor.Tensor // W_ihᵀ, W_hhᵀ, W_hrᵀ (nil without projection)
	// bx is added to the input projection: b_ih + b_hh, except that GRU
	// keeps b_hn out of it (it sits inside r ⊙ (…)); nil without bias.
	bx  *tensor.Tensor
	bhn *tensor.Tensor // GRU's b_hn, or nil
}

func rnnPrepare(kind rnnKind, w *RNNWeights, hidden int) rnnPrepared {
	p := rnnPrepared{kind: kind, hidden: hidden, wih: w.WeightIH.T(), whh: w.WeightHH.T()}
	if w.WeightHR != nil {
		p.whr = w.WeightHR.T()
	}
	if w.BiasIH != nil && w.BiasHH != nil {
		if kind == rnnGRU {
			zero := tensor.ZerosOf(w.BiasHH.DType(), hidden).ToDevice(w.BiasHH.Device())
			p.bx = w.BiasIH.Add(tensor.Cat([]*tensor.Tensor{w.BiasHH.Narrow(0, 0, 2*hidden), zero}, 0))
			p.bhn = w.BiasHH.Narrow(0, 2*hidden, hidden)
		} else {
			p.bx = w.BiasIH.Add(w.BiasHH.Tensor)
		}
	}
	return p
}

// project is the input projection x·W_ihᵀ + bx for all rows at once.
func (p *rnnPrepared) project(x *tensor.Tensor) *tensor.Tensor {
	g := x.MatMul(p.wih)
	if p.bx != nil {
		g = g.Add(p.bx)
	}
	return g
}

// step advances the state (h, c) by one step whose projected input is gx
// ([b, G·H]); c is nil except for LSTM.
func (p *rnnPrepared) step(gx, h, c *tensor.Tensor) (*tensor.Tensor, *tensor.Tensor) {
	hh := h.MatMul(p.whh)
	H := p.hidden
	switch p.kind {
	case rnnTanh:
		return gx.Add(hh).Tanh(), nil
	case rnnReLU:
		return gx.Add(hh).ReLU(), nil
	case rnnLSTM:
		g := rnnSplit(gx.Add(hh), 1, H, H, H, H)
		i, f, cand, o := g[0].Sigmoid(), g[1].Sigmoid(), g[2].Tanh(), g[3].Sigmoid()
		c = f.Mul(c).Add(i.Mul(cand))
		h = o.Mul(c.Tanh())
		if p.whr != nil {
			h = h.MatMul(p.whr)
		}
		return h, c
	default: // rnnGRU
		x, hs := rnnSplit(gx, 1, 2*H, H), rnnSplit(hh, 1, 2*H, H)
		rz := rnnSplit(x[0].Add(hs[0]).Sigmoid(), 1, H, H)
		hn := hs[1]
		if p.bhn != nil {
			hn = hn.Add(p.bhn)
		}
		nw := x[1].Add(rz[0].Mul(hn)).Tanh()
		return nw.Add(rz[1].Mul(h.Sub(nw))), nil
	}
}

// sequence runs one direction of one layer over the time-major rows of x
// (see RNNBase.forward) from the state (h0, c0), [bs[0], *]. Going
// forward, a sequence that has ended drops out of the batch and its state
// is kept as its final one; going backward, sequences join the batch at
// their own last step, from their initial state. It returns the outputs,
// laid out as x, and the final states in batch order.
func (p *rnnPrepared) sequence(x *tensor.Tensor, bs []int, h0, c0 *tensor.Tensor, reverse bool) (out, hN, cN *tensor.Tensor) {
	steps := len(bs)
	if p.kind == rnnLSTM && p.whr == nil && rnnFull(bs) {
		// The whole recurrence as one op: a fused cell kernel per step,
		// and W_hh's gradient as one product over all steps.
		out, cN = tensor.FusedLSTM(p.project(x), h0, c0, p.whh.T(), reverse)
		last := steps - 1
		if reverse {
			last = 0
		}
		return out, out.Narrow(0, last*bs[0], bs[0]), cN
	}
	gx := rnnSplit(p.project(x), 0, bs...)
	outs := make([]*tensor.Tensor, steps)
	if !reverse {
		h, c := h0, c0
		var doneH, doneC []*tensor.Tensor // states of ended sequences, last rows first
		for t := range steps {
			if b, have := bs[t], h.Size(0); b < have {
				doneH = append(doneH, h.Narrow(0, b, have-b))
				h = h.Narrow(0, 0, b)
				if c != nil {
					doneC = append(doneC, c.Narrow(0, b, have-b))
					c = c.Narrow(0, 0, b)
				}
			}
			h, c = p.step(gx[t], h, c)
			outs[t] = h
		}
		hN, cN = rnnJoinDone(h, doneH), c
		if c != nil {
			cN = rnnJoinDone(c, doneC)
		}
	} else {
		last := bs[steps-1]
		h := h0.Narrow(0, 0, last)
		var c *tensor.Tensor
		if c0 != nil {
			c = c0.Narrow(0, 0, last)
		}
		for t := steps - 1; t >= 0; t-- {
			if b, have := bs[t], h.Size(0); b > have {
				h = tensor.Cat([]*tensor.Tensor{h, h0.Narrow(0, have, b-have)}, 0)
				if c != nil {
					c = tensor.Cat([]*tensor.Tensor{c, c0.Narrow(0, have, b-have)}, 0)
				}
			}
			h, c = p.step(gx[t], h, c)
			outs[t] = h
		}
		hN, cN = h, c
	}
	if steps == 1 {
		return outs[0], hN, cN
	}
	return tensor.Cat(outs, 0), hN, cN
}

// rnnFull reports whether every step has the whole batch (a padded
// batch, or a packed one whose sequences all have one length).
func rnnFull(bs []int) bool {
	for _, b := range bs {
		if b != bs[0] {
			return false
		}
	}
	return true
}

// rnnSplit splits x along dim into consecutive parts of the given sizes:
// views of x, recorded as one op whose backward is a single Cat. (Plain
// Narrow gives each part's gradient x's full size, padded with zeros:
// once per time step over the whole input projection, that costs time
// quadratic in the sequence length.)
func rnnSplit(x *tensor.Tensor, dim int, sizes ...int) []*tensor.Tensor {
	split := func(x *tensor.Tensor) []*tensor.Tensor {
		parts := make([]*tensor.Tensor, len(sizes))
		off := 0
		for i, n := range sizes {
			parts[i] = x.Narrow(dim, off, n)
			off += n
		}
		return parts
	}
	if !x.RequiresGrad() {
		return split(x)
	}
	f := autograd.Function{
		Name:    "RNNSplit",
		Forward: func(_ *autograd.Context, in []*tensor.Tensor) []*tensor.Tensor { return split(in[0]) },
		Backward: func(_ *autograd.Context, g []*tensor.Tensor) []*tensor.Tensor {
			return []*tensor.Tensor{tensor.Cat(g, dim)}
		},
	}
	return f.Apply(x)
}

// rnnJoinDone stacks the final states of a forward pass in batch order:
// the sequences still running (the first rows) and then those that ended
// earlier, latest first.
func rnnJoinDone(running *tensor.Tensor, done []*tensor.Tensor) *tensor.Tensor {
	if len(done) == 0 {
		return running
	}
	parts := make([]*tensor.Tensor, 0, len(done)+1)
	parts = append(parts, running)
	for i := len(done) - 1; i >= 0; i-- {
		parts = append(parts, done[i])
	}
	return tensor.Cat(parts, 0)
}
