package cpu

import "github.com/tapir-ml/tapir/backend"

// Small buffers carry their elements in the same heap object as their
// header: one allocation per Alloc instead of two (the header and its
// data slice), which is a quarter of the cost of a tiny elementwise op.
// The sizes are powers of two words up to smallWords (1 KiB); a buffer
// never wastes more than half of its object, and Go's own size classes
// would round most of these sizes anyway. Release drops the reference to
// the data as for any unpooled buffer; the GC frees header and data
// together.

const smallWords = 128

type (
	smallBuf2 struct {
		Buffer
		data [2]uint64
	}
	smallBuf4 struct {
		Buffer
		data [4]uint64
	}
	smallBuf8 struct {
		Buffer
		data [8]uint64
	}
	smallBuf16 struct {
		Buffer
		data [16]uint64
	}
	smallBuf32 struct {
		Buffer
		data [32]uint64
	}
	smallBuf64 struct {
		Buffer
		data [64]uint64
	}
	smallBuf128 struct {
		Buffer
		data [128]uint64
	}
)

// newSmallBuffer returns an unpooled buffer of n elements of dt whose
// words (w ≤ smallWords of them) live in the buffer's own object.
func newSmallBuffer(dt backend.DType, n, w int) *Buffer {
	var b *Buffer
	switch {
	case w <= 2:
		s := new(smallBuf2)
		s.words, b = s.data[:w:w], &s.Buffer
	case w <= 4:
		s := new(smallBuf4)
		s.words, b = s.data[:w:w], &s.Buffer
	case w <= 8:
		s := new(smallBuf8)
		s.words, b = s.data[:w:w], &s.Buffer
	case w <= 16:
		s := new(smallBuf16)
		s.words, b = s.data[:w:w], &s.Buffer
	case w <= 32:
		s := new(smallBuf32)
		s.words, b = s.data[:w:w], &s.Buffer
	case w <= 64:
		s := new(smallBuf64)
		s.words, b = s.data[:w:w], &s.Buffer
	default:
		s := new(smallBuf128)
		s.words, b = s.data[:w:w], &s.Buffer
	}
	b.dt, b.n, b.class = dt, n, -1
	return b
}
