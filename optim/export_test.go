package optim

// PathCounts reports how many parameter updates of o took the fused
// kernel and how many the composed in-place ops, since o was made.
func PathCounts(o Optimizer) (fused, composed int) {
	var in *optimizer
	switch o := o.(type) {
	case *SGD:
		in = o.optimizer
	case *Adam:
		in = o.optimizer
	case *AdamW:
		in = o.optimizer
	case *RMSprop:
		in = o.optimizer
	case *Adagrad:
		in = o.optimizer
	case *Adadelta:
		in = o.optimizer
	default:
		panic("optim: PathCounts of an unknown optimizer")
	}
	return in.fusedSteps, in.composedSteps
}

// SetFused sets Fused on every group of an SGD, Adam or AdamW optimizer;
// it reports false for the others, which have no fused update.
func SetFused(o Optimizer, on bool) bool {
	for _, g := range o.ParamGroups() {
		switch c := g.Options.(type) {
		case *SGDConfig:
			c.Fused = on
		case *AdamConfig:
			c.Fused = on
		case *AdamWConfig:
			c.Fused = on
		default:
			return false
		}
	}
	return true
}
