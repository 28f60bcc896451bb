package nn

import (
	"math"
	"slices"

	F "github.com/tapir-ml/tapir/nn/functional"
	nninit "github.com/tapir-ml/tapir/nn/init"
	"github.com/tapir-ml/tapir/tensor"
)

// AttentionConfig holds MultiheadAttention's options; the zero value is
// torch's default.
type AttentionConfig struct {
	// Dropout is the probability of zeroing an attention weight while
	// training (torch's dropout, default 0).
	Dropout float64
	// NoBias leaves out in_proj_bias and out_proj.bias (torch's
	// bias=False).
	NoBias bool
	// AddBiasKV appends the learned bias_k and bias_v ([1, 1, E]) to the
	// keys and values as one more source position (torch's add_bias_kv).
	AddBiasKV bool
	// AddZeroAttn appends a zero key and value to every head as one more
	// source position (torch's add_zero_attn).
	AddZeroAttn bool
	// KDim and VDim are the feature sizes of key and value; 0 means
	// embedDim. When either differs from embedDim the projections are
	// the separate q_proj_weight, k_proj_weight and v_proj_weight, as in
	// torch, instead of the packed in_proj_weight.
	KDim, VDim int
	// BatchFirst takes and returns batched tensors as [N, L, E] instead
	// of torch's default [L, N, E].
	BatchFirst bool
	// Generator draws the initial weights and the dropout masks; nil
	// means tensor.DefaultGenerator().
	Generator *tensor.Generator
}

// MultiheadAttention is multi-head scaled dot-product attention
// (torch.nn.MultiheadAttention of torch 1.13): the query, key and value
// are projected, split into NumHeads heads of HeadDim = EmbedDim/NumHeads
// features, attended with softmax(q·kᵀ/√HeadDim + mask)·v per head, joined
// and projected by OutProj.
//
// Shapes, with L the target and S the source length, N the batch and E
// EmbedDim: query [L, N, E], key [S, N, KDim], value [S, N, VDim], output
// [L, N, E]; with BatchFirst the batched tensors are [N, L, E] and so on;
// unbatched inputs are [L, E], [S, KDim], [S, VDim] with output [L, E].
//
// The parameters and their state-dict names are torch's: in_proj_weight
// [3E, E] (or q_proj_weight [E, E], k_proj_weight [E, KDim] and
// v_proj_weight [E, VDim] when KDim or VDim differ from E), in_proj_bias
// [3E], bias_k and bias_v [1, 1, E] with AddBiasKV, and out_proj (a
// [Linear] from E to E). Unused ones are nil. It embeds [Mode]: dropout
// on the attention weights applies only while training.
//
// It has three inputs, so it is not a [Layer]: call Forward.
type MultiheadAttention struct {
	Mode
	InProjWeight *Parameter // [3E, E]; nil when KDim or VDim differ from E
	QProjWeight  *Parameter // [E, E]; nil unless KDim or VDim differ from E
	KProjWeight  *Parameter // [E, KDim]
	VProjWeight  *Parameter // [E, VDim]
	InProjBias   *Parameter // [3E]: the q, k and v biases; nil with NoBias
	BiasK        *Parameter // [1, 1, E]; nil without AddBiasKV
	BiasV        *Parameter // [1, 1, E]; nil without AddBiasKV
	OutProj      *Linear    // E → E

	EmbedDim, NumHeads, HeadDim int
	KDim, VDim                  int
	Dropout                     float64
	AddZeroAttn                 bool
	BatchFirst                  bool
	Generator                   *tensor.Generator // dropout masks; nil: tensor.DefaultGenerator()
}

// NewMultiheadAttention returns attention over embedDim features split
// into heads heads (embedDim must be a multiple of heads), initialized as
// torch does: in_proj_weight (or the three separate projection weights)
// Xavier-uniform, bias_k and bias_v Xavier-normal, out_proj.weight as a
// Linear's (U(−1/√E, 1/√E)), and all biases zero.
func NewMultiheadAttention(embedDim, heads int, cfg ...AttentionConfig) *MultiheadAttention {
	const name = "MultiheadAttention"
	var c AttentionConfig
	if len(cfg) > 0 {
		c = cfg[0]
	}
	if embedDim <= 0 || heads <= 0 || embedDim%heads != 0 {
		layerPanic(name, tensor.ErrShape, "embed_dim %d must be positive and divisible by num_heads %d", embedDim, heads)
	}
	if c.KDim < 0 || c.VDim < 0 {
		layerPanic(name, tensor.ErrShape, "negative kdim %d or vdim %d", c.KDim, c.VDim)
	}
	if !(c.Dropout >= 0 && c.Dropout <= 1) {
		layerPanic(name, tensor.ErrShape, "dropout probability has to be between 0 and 1, but got %v", c.Dropout)
	}
	kdim, vdim := c.KDim, c.VDim
	if kdim == 0 {
		kdim = embedDim
	}
	if vdim == 0 {
		vdim = embedDim
	}
	g := c.Generator
	m := &MultiheadAttention{
		EmbedDim: embedDim, NumHeads: heads, HeadDim: embedDim / heads,
		KDim: kdim, VDim: vdim,
		Dropout: c.Dropout, AddZeroAttn: c.AddZeroAttn, BatchFirst: c.BatchFirst,
		Generator: g,
	}
	// torch builds out_proj first, then resets the other parameters.
	m.OutProj = NewLinear(embedDim, embedDim, LinearConfig{NoBias: c.NoBias, Generator: g})
	xavier := func(shape ...int) *Parameter {
		return NewParameter(nninit.XavierUniform(tensor.Zeros(shape...), 1, g))
	}
	if kdim == embedDim && vdim == embedDim {
		m.InProjWeight = xavier(3*embedDim, embedDim)
	} else {
		m.QProjWeight = xavier(embedDim, embedDim)
		m.KProjWeight = xavier(embedDim, kdim)
		m.VProjWeight = xavier(embedDim, vdim)
	}
	if !c.NoBias {
		m.InProjBias = NewParameter(tensor.Zeros(3 * embedDim))
		nninit.Zeros(m.OutProj.Bias.Tensor)
	}
	if c.AddBiasKV {
		m.BiasK = NewParameter(nninit.XavierNormal(tensor.Zeros(1, 1, embedDim), 1, g))
		m.BiasV = NewParameter(nninit.XavierNormal(tensor.Zeros(1, 1, embedDim), 1, g))
	}
	return m
}

// MHAOptions are the optional arguments of MultiheadAttention.Forward;
// the zero value is torch's default (no masks; weights returned, averaged
// over the heads).
type MHAOptions struct {
	// KeyPaddingMask marks source positions to ignore: [N, S] ([S] for
	// unbatched inputs). A Bool mask ignores the keys where it is true; a
	// floating mask is added to the scores (torch's key_padding_mask).
	KeyPaddingMask *tensor.Tensor
	// AttnMask is [L, S] (the same for every batch entry and head) or
	// [N·heads, L, S] ([heads, L, S] for unbatched inputs). A Bool mask
	// forbids attention where it is true, as torch 1.13's
	// nn.MultiheadAttention reads it (the opposite of
	// F.ScaledDotProductAttention's Bool mask); a floating mask, such as
	// [GenerateSquareSubsequentMask]'s, is added to the scores.
	AttnMask *tensor.Tensor
	// IsCausal forbids query i to attend to source positions j > i, as a
	// Bool AttnMask that is true above the diagonal would. It cannot be
	// combined with AttnMask.
	IsCausal bool
	// NoWeights skips the attention weights: Forward returns nil for
	// them (torch's need_weights=False).
	NoWeights bool
	// PerHeadWeights returns the weights of every head, [N, heads, L, S],
	// instead of their mean over the heads, [N, L, S] (torch's
	// average_attn_weights=False).
	PerHeadWeights bool
}

// Forward attends query to key and value (see [MultiheadAttention] for the
// shapes) and returns the output and the attention weights: [N, L, S]
// averaged over the heads, [N, heads, L, S] with PerHeadWeights, without
// N for unbatched inputs, and nil with NoWeights. S counts the extra
// positions of AddBiasKV and AddZeroAttn. The weights are those the values
// were averaged with, after dropout when training, as in torch 1.13. A
// query whose every key is masked out gets NaN, as in torch.
func (m *MultiheadAttention) Forward(query, key, value *tensor.Tensor, opts ...MHAOptions) (out, weights *tensor.Tensor) {
	const name = "MultiheadAttention"
	var o MHAOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	batched := query.Dim() == 3
	if (query.Dim() != 2 && query.Dim() != 3) || key.Dim() != query.Dim() || value.Dim() != query.Dim() {
		layerPanic(name, tensor.ErrShape, "query %v, key %v and value %v must all be 3-d (batched) or all 2-d (unbatched)",
			query.Shape(), key.Shape(), value.Shape())
	}
	self := query == key && key == value
	// Work batch first: [N, L, E].
	q, k, v := query, key, value
	switch {
	case !batched:
		q, k, v = q.Unsqueeze(0), k.Unsqueeze(0), v.Unsqueeze(0)
	case !m.BatchFirst:
		q, k, v = q.Transpose(0, 1), k.Transpose(0, 1), v.Transpose(0, 1)
	}
	n, l, s := q.Size(0), q.Size(1), k.Size(1)
	e, h, hd := m.EmbedDim, m.NumHeads, m.HeadDim
	if q.Size(2) != e || k.Size(2) != m.KDim || v.Size(2) != m.VDim ||
		k.Size(0) != n || v.Size(0) != n || v.Size(1) != s {
		layerPanic(name, tensor.ErrShape, "query %v, key %v and value %v do not fit embed_dim %d, kdim %d, vdim %d (batch_first %v)",
			query.Shape(), key.Shape(), value.Shape(), e, m.KDim, m.VDim, m.BatchFirst && batched)
	}

	// In-projection.
	var bq, bk, bv *tensor.Tensor
	if m.InProjBias != nil {
		bs := m.InProjBias.Chunk(3, 0)
		bq, bk, bv = bs[0], bs[1], bs[2]
	}
	switch {
	case m.InProjWeight != nil && self:
		qkv := F.Linear(q, m.InProjWeight.Tensor, biasTensor(m.InProjBias)).Chunk(3, -1)
		q, k, v = qkv[0], qkv[1], qkv[2]
	case m.InProjWeight != nil:
		ws := m.InProjWeight.Chunk(3, 0)
		q, k, v = F.Linear(q, ws[0], bq), F.Linear(k, ws[1], bk), F.Linear(v, ws[2], bv)
	default:
		q = F.Linear(q, m.QProjWeight.Tensor, bq)
		k = F.Linear(k, m.KProjWeight.Tensor, bk)
		v = F.Linear(v, m.VProjWeight.Tensor, bv)
	}
	dt, dev := q.DType(), q.Device()

	// The masks, as one additive float mask that broadcasts to
	// [N, heads, L, S].
	mask := m.attnMask(o, batched, n, l, s, dt, dev)
	if kpm := o.KeyPaddingMask; kpm != nil {
		want := []int{n, s}
		if !batched {
			want = want[1:]
		}
		if !slices.Equal(kpm.Shape(), want) {
			layerPanic(name, tensor.ErrShape, "key_padding_mask %v does not fit key %v: want %v", kpm.Shape(), key.Shape(), want)
		}
		f := additive(name+" key_padding_mask", kpm, dt, dev).Reshape(n, 1, 1, s)
		if mask == nil {
			mask = f
		} else {
			mask = mask.Add(f)
		}
	}

	if m.BiasK != nil && m.BiasV != nil {
		k = tensor.Cat([]*tensor.Tensor{k, m.BiasK.Expand(n, 1, e)}, 1)
		v = tensor.Cat([]*tensor.Tensor{v, m.BiasV.Expand(n, 1, e)}, 1)
		mask = padKey(mask)
		s++
	}
	// Heads: [N, heads, L or S, head_dim].
	q = q.Reshape(n, l, h, hd).Permute(0, 2, 1, 3)
	k = k.Reshape(n, s, h, hd).Permute(0, 2, 1, 3)
	v = v.Reshape(n, s, h, hd).Permute(0, 2, 1, 3)
	if m.AddZeroAttn {
		zero := tensor.ZerosOf(dt, n, h, 1, hd).ToDevice(dev)
		k = tensor.Cat([]*tensor.Tensor{k, zero}, 2)
		v = tensor.Cat([]*tensor.Tensor{v, zero}, 2)
		mask = padKey(mask)
		s++
	}

	scores := q.DivScalar(math.Sqrt(float64(hd))).MatMul(k.Transpose(-2, -1))
	if mask != nil {
		scores = scores.Add(mask)
	}
	attn := scores.Softmax(-1)
	if m.Dropout > 0 && m.Training() {
		attn = F.Dropout(attn, m.Dropout, true, m.Generator)
	}
	ctx := attn.MatMul(v) // [N, heads, L, head_dim]
	if batched && !m.BatchFirst {
		out = Call(m.OutProj, ctx.Permute(2, 0, 1, 3).Reshape(l, n, e))
	} else {
		out = Call(m.OutProj, ctx.Permute(0, 2, 1, 3).Reshape(n, l, e))
		if !batched {
			out = out.Squeeze(0)
		}
	}
	if o.NoWeights {
		return out, nil
	}
	weights = attn
	if !o.PerHeadWeights {
		weights = weights.Sum(1).DivScalar(float64(h))
	}
	if !batched {
		weights = weights.Squeeze(0)
	}
	return out, weights
}

// attnMask checks o's AttnMask (or makes the causal one) and returns it as
// an additive [1 or N, 1 or heads, L, S] mask of dtype dt, or nil.
func (m *MultiheadAttention) attnMask(o MHAOptions, batched bool, n, l, s int, dt tensor.DType, dev tensor.Device) *tensor.Tensor {
	const name = "MultiheadAttention"
	am := o.AttnMask
	if o.IsCausal {
		if am != nil {
			layerPanic(name, tensor.ErrShape, "an attn_mask (shape %v) cannot be combined with IsCausal", am.Shape())
		}
		return causalMask(l, s, dt).ToDevice(dev).Reshape(1, 1, l, s)
	}
	if am == nil {
		return nil
	}
	heads := m.NumHeads
	if batched {
		heads *= n
	}
	switch {
	case am.Dim() == 2 && am.Size(0) == l && am.Size(1) == s:
		return additive(name+" attn_mask", am, dt, dev).Reshape(1, 1, l, s)
	case am.Dim() == 3 && am.Size(0) == heads && am.Size(1) == l && am.Size(2) == s:
		return additive(name+" attn_mask", am, dt, dev).Reshape(heads/m.NumHeads, m.NumHeads, l, s)
	}
	layerPanic(name, tensor.ErrShape, "attn_mask %v must be [%d %d] or [%d %d %d] (batch·heads, L, S)", am.Shape(), l, s, heads, l, s)
	return nil
}

// additive returns mask as a mask to add to attention scores of dtype dt:
// −∞ where a Bool mask is true and 0 elsewhere, or a floating mask
// converted to dt.
func additive(what string, mask *tensor.Tensor, dt tensor.DType, dev tensor.Device) *tensor.Tensor {
	switch {
	case mask.DType() == tensor.Bool:
		return tensor.ZerosOf(dt, mask.Shape()...).ToDevice(dev).MaskedFill(mask.ToDevice(dev), math.Inf(-1))
	case mask.DType().IsFloat():
		if mask.DType() != dt {
			mask = mask.To(dt)
		}
		return mask.ToDevice(dev)
	}
	layerPanic(what, tensor.ErrDType, "mask must be Bool or floating point, not %v", mask.DType())
	return nil
}

// padKey appends a zero (not masked) source position to an additive mask,
// for the extra key of AddBiasKV or AddZeroAttn.
func padKey(mask *tensor.Tensor) *tensor.Tensor {
	if mask == nil {
		return nil
	}
	sh := mask.Shape()
	sh[len(sh)-1] = 1
	return tensor.Cat([]*tensor.Tensor{mask, tensor.ZerosOf(mask.DType(), sh...).ToDevice(mask.Device())}, -1)
}

// causalMask is the [l, s] additive mask that hides position j from query
// i when j > i.
func causalMask(l, s int, dt tensor.DType) *tensor.Tensor {
	d := make([]float64, l*s)
	for i := range l {
		for j := i + 1; j < s; j++ {
			d[i*s+j] = math.Inf(-1)
		}
	}
	return tensor.FromSlice(d, l, s).To(dt)
}

// GenerateSquareSubsequentMask returns the [n, n] Float32 mask that lets
// position i attend only to positions j ≤ i: −∞ above the diagonal and 0
// elsewhere (torch.nn.Transformer.generate_square_subsequent_mask). Pass
// it as a decoder's TgtMask or as an AttnMask.
func GenerateSquareSubsequentMask(n int) *tensor.Tensor {
	if n < 0 {
		layerPanic("GenerateSquareSubsequentMask", tensor.ErrShape, "negative size %d", n)
	}
	return causalMask(n, n, tensor.Float32)
}
