package tensor

import (
	"github.com/tapir-ml/tapir/backend"
	"github.com/tapir-ml/tapir/backend/cpu"
)

// tensorStorage is a Tensor and its storage record in one heap object,
// which cpu.NewWithBuffer extends with a small buffer and its elements.
// A small op output is then a single allocation instead of two (the
// Tensor, and the storage with its elements): on a tiny op, allocation
// is most of the cost.
//
// Views, Detach and saved tensors share the storage and so keep this
// Tensor alive as long as they live. That is harmless for a tensor that
// is in no graph, but a recorded output's grad_fn would keep its whole
// graph alive through a detached copy: only outputs that their op does
// not record are made this way (see emptyFor). Such a tensor may still
// join a graph later (SetRequiresGrad, a recorded in-place op); its
// views then keep what it holds (its grad, its grad_fn) alive as long as
// they live, which is the price of the shared object.
type tensorStorage struct {
	t  Tensor
	st storage
}

// smallCPUBytes is the largest buffer that cpu.NewWithBuffer keeps in
// its header's object: a larger one comes from the pool, and a pooled
// buffer needs the handle that newStorage gives it.
const smallCPUBytes = cpu.SmallBytes

// emptyFor is emptyOn for an op's output; recorded says whether the op
// will record it for autograd. An unrecorded small CPU output shares one
// heap object with its storage and elements.
func emptyFor(op string, be backend.Backend, dt DType, shape []int, recorded bool) *Tensor {
	if _, onCPU := be.(*cpu.CPU); recorded || !onCPU || !dt.Valid() {
		return emptyOn(op, be, dt, shape)
	}
	n := 1
	for _, s := range shape {
		if s < 0 || s > smallCPUBytes {
			return emptyOn(op, be, dt, shape) // which checks the shape
		}
		if n *= s; n*dt.Size() > smallCPUBytes {
			return emptyOn(op, be, dt, shape)
		}
	}
	ts, b, err := cpu.NewWithBuffer[tensorStorage](dt, n)
	if err != nil {
		fail(op, ErrOutOfMemory, "%v", err)
	}
	st := &ts.st
	st.buf, st.dt, st.serial, st.views = b, dt, storageSerial.Add(1), 1
	ts.t.st = st
	ts.t.setContiguous(shape)
	return &ts.t
}
