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

// tensorNode is a recorded op's output and room for its grad_fn node in
// one heap object (the storage is apart); tensorNodeSaving has room for
// a node that saves up to two tensors. A recorded tiny op then makes two
// allocations instead of three.
//
// The node keeps the output's Tensor, and with it its storage, alive as
// long as the graph holds the node, even once the output itself is
// dropped; so only small CPU outputs (at most smallCPUBytes of elements)
// are made this way, and a graph of n such nodes keeps at most n small
// buffers more than it would. The reverse edge, the output keeping its
// grad_fn, is there anyway. The storage stays its own object, so a
// Detach or a saved copy of the output does not keep the node, and
// through it the graph, alive.
type (
	tensorNode struct {
		t Tensor
		n Node
	}
	tensorNodeSaving struct {
		t Tensor
		n nodeSaving
	}
)

// nodeRoom is room for a node that emptyFor made in an output's object:
// n, and sv for its saved tensors (nil when it saves none); the zero
// nodeRoom is none.
type nodeRoom struct {
	n  *Node
	sv *[2]savedTensor
}

// smallCPUBytes is the largest buffer that cpu.NewWithBuffer keeps in
// its header's object: a larger one comes from the pool, and a pooled
// buffer needs the handle that newStorage gives it.
const smallCPUBytes = cpu.SmallBytes

// emptyFor is emptyOn for an op's output; recorded says whether the op
// will record it for autograd, and saves how many tensors its node will
// save. An unrecorded small CPU output shares one heap object with its
// storage and elements; a recorded one shares one with room for its
// node, which emptyFor returns for recordIn (none when the output is not
// small or not on the CPU, or saves is more than two).
func emptyFor(op string, be backend.Backend, dt DType, shape []int, recorded bool, saves int) (*Tensor, nodeRoom) {
	if _, onCPU := be.(*cpu.CPU); !onCPU || !dt.Valid() {
		return emptyOn(op, be, dt, shape), nodeRoom{}
	}
	n := 1
	for _, s := range shape {
		if s < 0 || s > smallCPUBytes {
			return emptyOn(op, be, dt, shape), nodeRoom{} // which checks the shape
		}
		if n *= s; n*dt.Size() > smallCPUBytes {
			return emptyOn(op, be, dt, shape), nodeRoom{}
		}
	}
	// The loop checked the shape (n elements, none negative, few bytes),
	// so the recorded cases skip initEmpty's checks.
	switch {
	case recorded && saves == 0:
		tn := new(tensorNode)
		tn.t.initChecked(op, be, dt, shape, n)
		return &tn.t, nodeRoom{n: &tn.n}
	case recorded && saves <= len(nodeRoom{}.sv):
		tn := new(tensorNodeSaving)
		tn.t.initChecked(op, be, dt, shape, n)
		return &tn.t, nodeRoom{n: &tn.n.Node, sv: &tn.n.saved}
	case recorded:
		return emptyOn(op, be, dt, shape), nodeRoom{}
	}
	ts, b, err := cpu.NewWithBuffer[tensorStorage](dt, n)
	if err != nil {
		fail(op, ErrOutOfMemory, "%v", err)
	}
	st := &ts.st
	st.buf, st.dt, st.serial, st.views = b, dt, storageSerial.Add(1), 1
	ts.t.st = st
	ts.t.setContiguous(shape)
	return &ts.t, nodeRoom{}
}
