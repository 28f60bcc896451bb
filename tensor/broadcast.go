package tensor

import "github.com/tapir-ml/tapir/backend"

// broadcastShapes returns the shape two operands broadcast to, following
// NumPy's rule: align from the right; each pair of dims must be equal or
// contain a 1.
func broadcastShapes(op string, shapes ...[]int) []int {
	n := 0
	for _, s := range shapes {
		n = max(n, len(s))
	}
	out := make([]int, n)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := n - len(s)
		for i, d := range s {
			switch {
			case out[off+i] == 1:
				out[off+i] = d
			case d == 1 || d == out[off+i]:
			default:
				fail(op, ErrShape, "shapes %v cannot be broadcast together (dim %d: %d vs %d)", shapeList(shapes), i-len(s), out[off+i], d)
			}
		}
	}
	return out
}

func shapeList(shapes [][]int) string {
	s := ""
	for i, sh := range shapes {
		if i > 0 {
			s += " and "
		}
		s += formatShape(sh)
	}
	return s
}

func formatShape(sh []int) string {
	s := "["
	for i, d := range sh {
		if i > 0 {
			s += " "
		}
		s += itoa(d)
	}
	return s + "]"
}

func itoa(i int) string {
	if i < 0 {
		return "-" + itoa(-i)
	}
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// broadcastView is t seen with shape (which t broadcasts to): new leading
// dims and expanded size-1 dims get stride 0. No data moves.
func (t *Tensor) broadcastView(shape []int) backend.View {
	if sameShape(t.shape, shape) {
		return t.view()
	}
	st := make([]int, len(shape))
	off := len(shape) - len(t.shape)
	for i := range shape {
		if i < off {
			continue
		}
		if t.shape[i-off] == shape[i] {
			st[i] = t.strides[i-off]
		}
	}
	return t.viewAs(shape, st, t.offset)
}
