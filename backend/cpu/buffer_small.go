package cpu

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/tapir-ml/tapir/backend"
)

// Small buffers carry their elements in the same heap object as their
// header: one allocation per Alloc instead of two (the header and its
// data slice), which is a quarter of the cost of a tiny elementwise op.
// The sizes are powers of two words up to smallWords (1 KiB); a buffer
// never wastes more than half of its object, and Go's own size classes
// would round most of these sizes anyway. Release drops the reference to
// the data as for any unpooled buffer; the GC frees header and data
// together.
//
// The object may also hold a header of the caller's (NewWithBuffer):
// package tensor puts its storage record there, so a small tensor's
// storage, buffer and elements are one allocation. The caller's header
// comes first, so the GC, which scans an object only up to its last
// pointer, never reads the elements.

const smallWords = 128

// SmallBytes is the largest buffer, in bytes, that NewWithBuffer keeps
// in its header's object rather than taking from the pool.
const SmallBytes = smallWords * 8

type (
	smallBuf2[H any] struct {
		h    H
		buf  Buffer
		data [2]uint64
	}
	smallBuf4[H any] struct {
		h    H
		buf  Buffer
		data [4]uint64
	}
	smallBuf8[H any] struct {
		h    H
		buf  Buffer
		data [8]uint64
	}
	smallBuf16[H any] struct {
		h    H
		buf  Buffer
		data [16]uint64
	}
	smallBuf32[H any] struct {
		h    H
		buf  Buffer
		data [32]uint64
	}
	smallBuf64[H any] struct {
		h    H
		buf  Buffer
		data [64]uint64
	}
	smallBuf128[H any] struct {
		h    H
		buf  Buffer
		data [128]uint64
	}
)

// newSmallBuffer returns an unpooled buffer of n elements of dt whose
// words (w ≤ smallWords of them) live in the buffer's own object.
func newSmallBuffer(dt backend.DType, n, w int) *Buffer {
	_, b := newSmallWith[struct{}](dt, n, w)
	return b
}

// newSmallWith is newSmallBuffer with a zeroed H in the same object.
func newSmallWith[H any](dt backend.DType, n, w int) (*H, *Buffer) {
	var (
		h *H
		b *Buffer
	)
	switch {
	case w <= 2:
		s := new(smallBuf2[H])
		s.buf.words, h, b = s.data[:w:w], &s.h, &s.buf
	case w <= 4:
		s := new(smallBuf4[H])
		s.buf.words, h, b = s.data[:w:w], &s.h, &s.buf
	case w <= 8:
		s := new(smallBuf8[H])
		s.buf.words, h, b = s.data[:w:w], &s.h, &s.buf
	case w <= 16:
		s := new(smallBuf16[H])
		s.buf.words, h, b = s.data[:w:w], &s.h, &s.buf
	case w <= 32:
		s := new(smallBuf32[H])
		s.buf.words, h, b = s.data[:w:w], &s.h, &s.buf
	case w <= 64:
		s := new(smallBuf64[H])
		s.buf.words, h, b = s.data[:w:w], &s.h, &s.buf
	default:
		s := new(smallBuf128[H])
		s.buf.words, h, b = s.data[:w:w], &s.h, &s.buf
	}
	b.dt, b.n, b.class = dt, n, -1
	return h, b
}

// allocWords checks an Alloc request and returns its size in words.
func allocWords(dt backend.DType, n int) (int, error) {
	if n < 0 || !dt.Valid() {
		return 0, fmt.Errorf("cpu: alloc %d elements of %v", n, dt)
	}
	// bits.Mul rather than a division to catch overflow: this runs for
	// every op's output, where a division costs as much as the rest.
	hi, bytes := bits.Mul(uint(n), uint(dt.Size()))
	if hi != 0 || bytes > math.MaxInt-7 {
		return 0, fmt.Errorf("cpu: alloc %d elements of %v: %w", n, dt, backend.ErrOutOfMemory)
	}
	return int(bytes+7) / 8, nil
}

// NewWithBuffer allocates a zeroed H and a buffer of n elements of dt, as
// Alloc does. A buffer of at most 1 KiB shares one heap object with the
// H (and its elements), so the pair costs a single allocation; a larger
// one comes from the pool and the H is allocated on its own. Either way
// pass the buffer to Release, never the H.
//
// Sharing an object ties lifetimes: while anything points to the H or to
// the buffer, the GC keeps both. It suits a record that holds the buffer
// for the buffer's whole life and that nothing else outlives, such as
// package tensor's storage record.
func NewWithBuffer[H any](dt backend.DType, n int) (*H, *Buffer, error) {
	w, err := allocWords(dt, n)
	if err != nil {
		return nil, nil, err
	}
	if w <= smallWords {
		h, b := newSmallWith[H](dt, n, w)
		return h, b, nil
	}
	words, class, err := poolGet(w)
	if err != nil {
		return nil, nil, err
	}
	return new(H), &Buffer{dt: dt, n: n, words: words, class: class}, nil
}
