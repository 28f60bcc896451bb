package tensor

import (
	"testing"
	"unsafe"

	"github.com/tapir-ml/tapir/backend"
)

// The per-op records are sized to fit malloc's size classes: every op
// that requires grad allocates a Node, whose bytes set how often the GC
// runs. This test keeps a later field from silently pushing them over.
func TestRecordSizes(t *testing.T) {
	if s := unsafe.Sizeof(Node{}); s > 192 {
		t.Errorf("Node is %d bytes, over the 192-byte size class", s)
	}
	if s := unsafe.Sizeof(Tensor{}); s > 192 {
		t.Errorf("Tensor is %d bytes, over the 192-byte size class", s)
	}
	// A recorded small op's output and its node are one object
	// (tensorNode); 352 bytes is the size class below 384.
	if s := unsafe.Sizeof(tensorNode{}); s > 352 {
		t.Errorf("tensorNode is %d bytes, over the 352-byte size class", s)
	}
	if s := unsafe.Sizeof(tensorNodeSaving{}); s > 448 {
		t.Errorf("tensorNodeSaving is %d bytes, over the 448-byte size class", s)
	}
	t.Logf("Node %d bytes, Tensor %d bytes, storage %d bytes", unsafe.Sizeof(Node{}), unsafe.Sizeof(Tensor{}), unsafe.Sizeof(storage{}))
}

// initEmpty divides for its overflow check only beyond
// math.MaxInt/maxDTypeSize elements, which is right while no dtype is
// larger.
func TestMaxDTypeSize(t *testing.T) {
	for _, dt := range backend.DTypes() {
		if dt.Size() > maxDTypeSize {
			t.Errorf("%v is %d bytes, over maxDTypeSize %d", dt, dt.Size(), maxDTypeSize)
		}
	}
}
