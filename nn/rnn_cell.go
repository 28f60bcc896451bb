package nn

import (
	"math"

	"github.com/tapir-ml/tapir/tensor"
)

// RNNCellConfig holds the options of [RNNCell], [LSTMCell] and [GRUCell];
// its zero value is torch's default.
type RNNCellConfig struct {
	NoBias bool // no bias_ih / bias_hh (torch's bias=False)
	// Nonlinearity is RNNCell's activation, "tanh" (the default, also "")
	// or "relu"; LSTMCell and GRUCell take none.
	Nonlinearity string
	// Generator draws the initial weights; nil means
	// tensor.DefaultGenerator().
	Generator *tensor.Generator
}

// RNNCell is one step of an Elman RNN (torch.nn.RNNCell):
// h' = act(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh). Input [N, InputSize] or
// [InputSize]; hidden state [N, HiddenSize] or [HiddenSize]. WeightIH is
// [HiddenSize, InputSize], WeightHH [HiddenSize, HiddenSize], the biases
// [HiddenSize] or nil with NoBias.
type RNNCell struct {
	WeightIH *Parameter `nn:"weight_ih"`
	WeightHH *Parameter `nn:"weight_hh"`
	BiasIH   *Parameter `nn:"bias_ih"`
	BiasHH   *Parameter `nn:"bias_hh"`

	InputSize, HiddenSize int
	Nonlinearity          string // "tanh" or "relu"
}

// LSTMCell is one step of an LSTM (torch.nn.LSTMCell), with the equations
// of [LSTM]. Input [N, InputSize] or [InputSize]; h and c [N, HiddenSize]
// or [HiddenSize]. WeightIH is [4·HiddenSize, InputSize], WeightHH
// [4·HiddenSize, HiddenSize], the biases [4·HiddenSize], the gates stacked
// as i, f, g, o.
type LSTMCell struct {
	WeightIH *Parameter `nn:"weight_ih"`
	WeightHH *Parameter `nn:"weight_hh"`
	BiasIH   *Parameter `nn:"bias_ih"`
	BiasHH   *Parameter `nn:"bias_hh"`

	InputSize, HiddenSize int
}

// GRUCell is one step of a GRU (torch.nn.GRUCell), with the equations of
// [GRU]. Input [N, InputSize] or [InputSize]; h [N, HiddenSize] or
// [HiddenSize]. WeightIH is [3·HiddenSize, InputSize], WeightHH
// [3·HiddenSize, HiddenSize], the biases [3·HiddenSize], the gates stacked
// as r, z, n.
type GRUCell struct {
	WeightIH *Parameter `nn:"weight_ih"`
	WeightHH *Parameter `nn:"weight_hh"`
	BiasIH   *Parameter `nn:"bias_ih"`
	BiasHH   *Parameter `nn:"bias_hh"`

	InputSize, HiddenSize int
}

// newCellWeights draws a cell's parameters from U(−1/√hidden, 1/√hidden),
// as torch's reset_parameters does.
func newCellWeights(kind rnnKind, name string, inputSize, hiddenSize int, c RNNCellConfig) RNNWeights {
	if inputSize <= 0 || hiddenSize <= 0 {
		rnnPanic(name, tensor.ErrShape, "input size %d and hidden size %d must be positive", inputSize, hiddenSize)
	}
	if kind == rnnLSTM || kind == rnnGRU {
		if c.Nonlinearity != "" {
			rnnPanic(name, tensor.ErrShape, "Nonlinearity %q applies to RNNCell only", c.Nonlinearity)
		}
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
	w := RNNWeights{WeightIH: draw(g, inputSize), WeightHH: draw(g, hiddenSize)}
	if !c.NoBias {
		w.BiasIH = draw(g)
		w.BiasHH = draw(g)
	}
	return w
}

func cellConfig(cfg []RNNCellConfig) RNNCellConfig {
	if len(cfg) > 0 {
		return cfg[0]
	}
	return RNNCellConfig{}
}

// NewRNNCell returns an RNNCell from inputSize to hiddenSize features,
// tanh unless cfg says "relu", initialized as torch does.
func NewRNNCell(inputSize, hiddenSize int, cfg ...RNNCellConfig) *RNNCell {
	c := cellConfig(cfg)
	nl := c.Nonlinearity
	switch nl {
	case "":
		nl = "tanh"
	case "tanh", "relu":
	default:
		rnnPanic("RNNCell", tensor.ErrShape, "unknown nonlinearity %q: want \"tanh\" or \"relu\"", c.Nonlinearity)
	}
	w := newCellWeights(rnnTanh, "RNNCell", inputSize, hiddenSize, c)
	return &RNNCell{WeightIH: w.WeightIH, WeightHH: w.WeightHH, BiasIH: w.BiasIH, BiasHH: w.BiasHH,
		InputSize: inputSize, HiddenSize: hiddenSize, Nonlinearity: nl}
}

// NewLSTMCell returns an LSTMCell from inputSize to hiddenSize features,
// initialized as torch does.
func NewLSTMCell(inputSize, hiddenSize int, cfg ...RNNCellConfig) *LSTMCell {
	w := newCellWeights(rnnLSTM, "LSTMCell", inputSize, hiddenSize, cellConfig(cfg))
	return &LSTMCell{WeightIH: w.WeightIH, WeightHH: w.WeightHH, BiasIH: w.BiasIH, BiasHH: w.BiasHH,
		InputSize: inputSize, HiddenSize: hiddenSize}
}

// NewGRUCell returns a GRUCell from inputSize to hiddenSize features,
// initialized as torch does.
func NewGRUCell(inputSize, hiddenSize int, cfg ...RNNCellConfig) *GRUCell {
	w := newCellWeights(rnnGRU, "GRUCell", inputSize, hiddenSize, cellConfig(cfg))
	return &GRUCell{WeightIH: w.WeightIH, WeightHH: w.WeightHH, BiasIH: w.BiasIH, BiasHH: w.BiasHH,
		InputSize: inputSize, HiddenSize: hiddenSize}
}

// cellStep checks the shapes, runs one step and restores an unbatched
// shape. states are h (and c for LSTM), nil meaning zeros.
func cellStep(name string, kind rnnKind, w RNNWeights, inputSize, hidden int, x *tensor.Tensor, states ...*tensor.Tensor) (*tensor.Tensor, *tensor.Tensor) {
	if x.Dim() != 1 && x.Dim() != 2 {
		rnnPanic(name, tensor.ErrShape, "input %v must be 2-d [N, %d] or 1-d [%d]", x.Shape(), inputSize, inputSize)
	}
	if x.Size(-1) != inputSize {
		rnnPanic(name, tensor.ErrShape, "input %v has %d features, want input size %d", x.Shape(), x.Size(-1), inputSize)
	}
	want := w.WeightIH.DType()
	for _, t := range append([]*tensor.Tensor{x}, states...) {
		if t != nil && t.DType() != want {
			rnnPanic(name, tensor.ErrDType, "input and states must have the weights' dtype %v, got %v", want, t.DType())
		}
	}
	batched := x.Dim() == 2
	if !batched {
		x = x.Unsqueeze(0)
	}
	n := x.Size(0)
	for i, s := range states {
		if s == nil {
			states[i] = tensor.ZerosOf(x.DType(), n, hidden).ToDevice(x.Device())
			continue
		}
		want := []int{n, hidden}
		if !batched {
			want = want[1:]
		}
		sh := s.Shape()
		if len(sh) != len(want) || sh[0] != want[0] || (batched && sh[1] != want[1]) {
			what := "h"
			if i == 1 {
				what = "c"
			}
			rnnPanic(name, tensor.ErrShape, "%s is %v, want %v for input %v", what, sh, want, x.Shape())
		}
		if !batched {
			states[i] = s.Unsqueeze(0)
		}
	}
	p := rnnPrepare(kind, &w, hidden)
	var c *tensor.Tensor
	if len(states) > 1 {
		c = states[1]
	}
	h, c := p.step(p.project(x), states[0], c)
	if !batched {
		h = h.Squeeze(0)
		if c != nil {
			c = c.Squeeze(0)
		}
	}
	return h, c
}

func (c *RNNCell) weights() RNNWeights {
	return RNNWeights{WeightIH: c.WeightIH, WeightHH: c.WeightHH, BiasIH: c.BiasIH, BiasHH: c.BiasHH}
}

func (c *LSTMCell) weights() RNNWeights {
	return RNNWeights{WeightIH: c.WeightIH, WeightHH: c.WeightHH, BiasIH: c.BiasIH, BiasHH: c.BiasHH}
}

func (c *GRUCell) weights() RNNWeights {
	return RNNWeights{WeightIH: c.WeightIH, WeightHH: c.WeightHH, BiasIH: c.BiasIH, BiasHH: c.BiasHH}
}

// Forward is one step from a zero hidden state.
func (c *RNNCell) Forward(x *tensor.Tensor) *tensor.Tensor { return c.ForwardState(x, nil) }

// ForwardState is one step: the next hidden state from input x and hidden
// state h (nil means zeros), shaped as h.
func (c *RNNCell) ForwardState(x, h *tensor.Tensor) *tensor.Tensor {
	kind := rnnTanh
	switch c.Nonlinearity {
	case "", "tanh":
	case "relu":
		kind = rnnReLU
	default:
		rnnPanic("RNNCell", tensor.ErrShape, "unknown nonlinearity %q: want \"tanh\" or \"relu\"", c.Nonlinearity)
	}
	h, _ = cellStep("RNNCell", kind, c.weights(), c.InputSize, c.HiddenSize, x, h)
	return h
}

// Forward is one step from zero states; it returns the next h.
func (c *LSTMCell) Forward(x *tensor.Tensor) *tensor.Tensor {
	h, _ := c.ForwardState(x, nil, nil)
	return h
}

// ForwardState is one step: the next hidden and cell states from input x
// and states h and c (nil means zeros), shaped as h and c.
func (c *LSTMCell) ForwardState(x, h, cell *tensor.Tensor) (hNext, cNext *tensor.Tensor) {
	return cellStep("LSTMCell", rnnLSTM, c.weights(), c.InputSize, c.HiddenSize, x, h, cell)
}

// Forward is one step from a zero hidden state.
func (c *GRUCell) Forward(x *tensor.Tensor) *tensor.Tensor { return c.ForwardState(x, nil) }

// ForwardState is one step: the next hidden state from input x and hidden
// state h (nil means zeros), shaped as h.
func (c *GRUCell) ForwardState(x, h *tensor.Tensor) *tensor.Tensor {
	h, _ = cellStep("GRUCell", rnnGRU, c.weights(), c.InputSize, c.HiddenSize, x, h)
	return h
}
