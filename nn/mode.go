package nn

// Mode records whether a module is training or evaluating. Layers whose
// forward pass differs between the two (Dropout, BatchNorm) embed it; its
// zero value is training, as a fresh torch module is.
type Mode struct {
	eval bool
}

// Training reports whether the module is in training mode.
func (m *Mode) Training() bool { return !m.eval }

// SetTraining switches the module between training and evaluation mode.
func (m *Mode) SetTraining(on bool) { m.eval = !on }

// Trainer is implemented by modules with a training mode, usually by
// embedding [Mode].
type Trainer interface {
	SetTraining(on bool)
}

// Train puts m and every module under it in training mode.
func Train(m Module) { setMode(m, true) }

// Eval puts m and every module under it in evaluation mode: Dropout does
// nothing and BatchNorm uses its running statistics.
func Eval(m Module) { setMode(m, false) }

func setMode(m Module, on bool) {
	Apply(m, func(_ string, mod Module) {
		if t, ok := mod.(Trainer); ok {
			t.SetTraining(on)
		}
	})
}
