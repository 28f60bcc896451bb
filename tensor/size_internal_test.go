package tensor

import (
	"testing"
	"unsafe"
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
	t.Logf("Node %d bytes, Tensor %d bytes, storage %d bytes", unsafe.Sizeof(Node{}), unsafe.Sizeof(Tensor{}), unsafe.Sizeof(storage{}))
}
