package optim

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
)

// LoadError lists everything wrong with an optimizer or scheduler state
// dict at once.
type LoadError struct {
	Missing    []string // keys the state dict lacks
	Unexpected []string // keys it has and should not
	Mismatched []string // "key: why" for shapes, group sizes and values that do not fit
}

// Error lists the problems, starting with "optim: load state dict: ".
func (e *LoadError) Error() string {
	var parts []string
	if len(e.Missing) > 0 {
		parts = append(parts, "missing keys: "+strings.Join(e.Missing, ", "))
	}
	if len(e.Unexpected) > 0 {
		parts = append(parts, "unexpected keys: "+strings.Join(e.Unexpected, ", "))
	}
	if len(e.Mismatched) > 0 {
		parts = append(parts, "mismatches: "+strings.Join(e.Mismatched, "; "))
	}
	return "optim: load state dict: " + strings.Join(parts, "; ")
}

func (e *LoadError) empty() bool {
	return len(e.Missing) == 0 && len(e.Unexpected) == 0 && len(e.Mismatched) == 0
}

func (e *LoadError) mismatch(key, format string, args ...any) {
	e.Mismatched = append(e.Mismatched, key+": "+fmt.Sprintf(format, args...))
}

func (e *LoadError) sorted() *LoadError {
	sort.Strings(e.Missing)
	sort.Strings(e.Unexpected)
	sort.Strings(e.Mismatched)
	return e
}

// scalar64 makes a 0-d Float64 tensor.
func scalar64(v float64) *tensor.Tensor { return tensor.FromSlice([]float64{v}, []int{}...) }

// StateDict returns the optimizer's state as a flat map, in the layout of
// torch's optimizer.state_dict() with the nesting spelled out in the keys:
//
//	state.I.NAME          state tensor NAME of parameter I (exp_avg,
//	                      momentum_buffer, …), in the parameter's dtype
//	state.I.step          the step count, 0-d Float64
//	param_groups.G.OPTION group G's option by torch's name (lr, momentum,
//	                      betas, …): 0-d Float64, 0-d Bool, or for betas
//	                      a Float64 pair
//	param_groups.G.params the group's parameter indices, Int64
//	param_groups.G.initial_lr  when a scheduler has set it
//
// Parameters are numbered over all groups in order, as torch does;
// parameters that have not been stepped have no state. The state tensors
// are the optimizer's own and change with the next Step: Clone them to
// keep a snapshot.
func (o *optimizer) StateDict() map[string]*tensor.Tensor {
	sd := map[string]*tensor.Tensor{}
	idx := 0
	for gi, g := range o.groups {
		ids := make([]int64, len(g.Params))
		for j, p := range g.Params {
			ids[j] = int64(idx)
			if st := o.state[p]; st != nil {
				prefix := "state." + strconv.Itoa(idx) + "."
				if o.alg.hasStep {
					sd[prefix+"step"] = scalar64(st.step)
				}
				for k, s := range st.slots {
					if s != nil {
						sd[prefix+o.alg.slots[k]] = s
					}
				}
			}
			idx++
		}
		prefix := "param_groups." + strconv.Itoa(gi) + "."
		sd[prefix+"params"] = tensor.FromSlice(ids)
		for _, h := range g.Options.hyper() {
			switch {
			case h.f != nil:
				sd[prefix+h.name] = scalar64(*h.f)
			case h.b != nil:
				sd[prefix+h.name] = tensor.FromSlice([]bool{*h.b}, []int{}...)
			default:
				sd[prefix+h.name] = tensor.FromSlice([]float64{h.pair[0], h.pair[1]})
			}
		}
		if g.hasInitialLR {
			sd[prefix+"initial_lr"] = scalar64(g.initialLR)
		}
	}
	return sd
}

// LoadStateDict restores a state saved by StateDict (of an optimizer of
// the same kind, with as many groups of the same sizes): the groups'
// options, initial_lr and every parameter's state, copied into tensors of
// the parameter's dtype and device. Every key is checked first; on any
// problem it returns a *LoadError that lists them all and changes
// nothing.
func (o *optimizer) LoadStateDict(sd map[string]*tensor.Tensor) error {
	le := &LoadError{}
	used := map[string]bool{}
	get := func(key string) *tensor.Tensor {
		t, ok := sd[key]
		if !ok || t == nil {
			le.Missing = append(le.Missing, key)
			return nil
		}
		used[key] = true
		return t
	}

	// how many groups the state dict has
	saved := 0
	for k := range sd {
		if rest, ok := strings.CutPrefix(k, "param_groups."); ok {
			if i, err := strconv.Atoi(strings.SplitN(rest, ".", 2)[0]); err == nil && i+1 > saved {
				saved = i + 1
			}
		}
	}
	if saved != len(o.groups) {
		le.mismatch("param_groups", "the state dict has %d parameter groups, the optimizer %d", saved, len(o.groups))
	}

	// groups: options and the map from saved parameter ids to parameters
	newOpts := make([]Options, len(o.groups))
	initial := make([]*float64, len(o.groups))
	byID := map[int64]*nn.Parameter{}
	for gi, g := range o.groups {
		prefix := "param_groups." + strconv.Itoa(gi) + "."
		if t := get(prefix + "params"); t != nil {
			if t.Dim() != 1 || t.Numel() != len(g.Params) {
				le.mismatch(prefix+"params", "shape %v, but the group has %d parameters", t.Shape(), len(g.Params))
			} else {
				for j, id := range t.To(tensor.Int64).Int64s() {
					byID[id] = g.Params[j]
				}
			}
		}
		opts := g.Options.clone()
		for _, h := range opts.hyper() {
			t := get(prefix + h.name)
			if t == nil {
				continue
			}
			want := []int{}
			if h.pair != nil {
				want = []int{2}
			}
			if !slices.Equal(t.Shape(), want) && !(h.pair == nil && t.Numel() == 1) {
				le.mismatch(prefix+h.name, "shape %v, want %v", t.Shape(), want)
				continue
			}
			v := t.Float64s()
			switch {
			case h.f != nil:
				*h.f = v[0]
			case h.b != nil:
				*h.b = v[0] != 0
			default:
				h.pair[0], h.pair[1] = v[0], v[1]
			}
		}
		if fixer, ok := opts.(interface{ loaded() }); ok {
			fixer.loaded()
		}
		if err := opts.check(); err != nil {
			le.mismatch(prefix[:len(prefix)-1], "%v", err)
		}
		newOpts[gi] = opts
		if t, ok := sd[prefix+"initial_lr"]; ok && t != nil {
			used[prefix+"initial_lr"] = true
			if t.Numel() != 1 {
				le.mismatch(prefix+"initial_lr", "shape %v, want []", t.Shape())
			} else {
				v := t.Item()
				initial[gi] = &v
			}
		}
	}

	// per-parameter state
	type entry struct {
		step  *tensor.Tensor
		slots [3]*tensor.Tensor
	}
	entries := map[*nn.Parameter]*entry{}
	var optsOf = map[*nn.Parameter]Options{}
	for gi, g := range o.groups {
		for _, p := range g.Params {
			optsOf[p] = newOpts[gi]
		}
	}
	for k, t := range sd {
		rest, ok := strings.CutPrefix(k, "state.")
		if !ok {
			continue
		}
		parts := strings.SplitN(rest, ".", 2)
		id, err := strconv.ParseInt(parts[0], 10, 64)
		p := byID[id]
		if err != nil || len(parts) != 2 || p == nil {
			continue // reported as unexpected below
		}
		name := parts[1]
		slot := slices.Index(o.alg.slots, name)
		if slot < 0 && !(name == "step" && o.alg.hasStep) {
			continue
		}
		used[k] = true
		e := entries[p]
		if e == nil {
			e = &entry{}
			entries[p] = e
		}
		if t == nil {
			le.Missing = append(le.Missing, k)
			continue
		}
		if slot < 0 {
			if t.Numel() != 1 {
				le.mismatch(k, "shape %v, want []", t.Shape())
			}
			e.step = t
			continue
		}
		if !slices.Equal(t.Shape(), p.Shape()) {
			le.mismatch(k, "state dict %v, parameter %v", t.Shape(), p.Shape())
		}
		e.slots[slot] = t
	}
	// a parameter with state needs all the state its options call for
	ids := make([]int64, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		p := byID[id]
		e := entries[p]
		if e == nil {
			continue
		}
		prefix := "state." + strconv.FormatInt(id, 10) + "."
		if o.alg.hasStep && e.step == nil {
			le.Missing = append(le.Missing, prefix+"step")
		}
		if opts := optsOf[p]; opts != nil {
			for _, s := range o.alg.required(opts) {
				if e.slots[s] == nil {
					le.Missing = append(le.Missing, prefix+o.alg.slots[s])
				}
			}
		}
	}
	for k := range sd {
		if !used[k] {
			le.Unexpected = append(le.Unexpected, k)
		}
	}
	if !le.empty() {
		return le.sorted()
	}

	// everything fits: apply
	for gi, g := range o.groups {
		g.Options = newOpts[gi]
		g.hasInitialLR = initial[gi] != nil
		g.initialLR = 0
		if initial[gi] != nil {
			g.initialLR = *initial[gi]
		}
	}
	state := map[*nn.Parameter]*paramState{}
	for p, e := range entries {
		st := &paramState{}
		if e.step != nil {
			st.step = e.step.Item()
		}
		for i, s := range e.slots {
			if s != nil {
				st.slots[i] = tensor.EmptyLike(p.Tensor).CopyIn(s.Detach())
			}
		}
		state[p] = st
	}
	if o.alg.init != nil {
		for _, g := range o.groups {
			for _, p := range g.Params {
				if state[p] == nil {
					state[p] = o.alg.init(g.Options, p.Tensor)
				}
			}
		}
	}
	o.state = state
	return nil
}
