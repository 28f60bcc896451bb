package torchfile

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Limits on what a pickle may hold. Torch's pickles of state dicts stay far
// below them; they keep a malformed file from making the unpickler
// allocate or compute in proportion to numbers it claims rather than to
// its size.
const (
	// MaxPickleSize is the largest pickle (data.pkl, or one pickle of a
	// legacy file) Read accepts, in bytes.
	MaxPickleSize = 1 << 30
	maxMarkDepth  = 4096 // nested MARKs (tuples, lists, dicts being built)
	maxLineLen    = 1 << 16
	maxNumberLen  = 256 // digits of INT/LONG text, bytes of LONG1/LONG4
)

// argKind is how a pickle opcode's argument is encoded.
type argKind uint8

const (
	argNone    argKind = iota
	argFixed           // a fixed number of bytes
	argLine            // bytes up to and including '\n'
	argTwoLine         // two such lines (GLOBAL, INST)
	argLen1            // a 1-byte length, then that many bytes
	argLen4            // a 4-byte little-endian length, then the bytes
	argLen4S           // the same with a signed length
	argLen8            // an 8-byte length, then the bytes
	argNumLine         // a line holding a number (INT, LONG)
)

type opInfo struct {
	kind  argKind
	n     int // bytes for argFixed
	mark  int // +1 pushes a mark, -1 pops one
	valid bool
}

// opcodes lists every opcode of pickle protocols 0 to 5 with the layout
// of its argument and what it does to the marks (see Python's
// pickletools). POP may also pop a mark; counting it as not doing so only
// overestimates the depth.
var opcodes = func() (t [256]opInfo) {
	ops := []struct {
		op   byte
		kind argKind
		n    int
		mark int
	}{
		{'(', argNone, 0, 1},     // MARK
		{'.', argNone, 0, 0},     // STOP
		{'0', argNone, 0, 0},     // POP
		{'1', argNone, 0, -1},    // POP_MARK
		{'2', argNone, 0, 0},     // DUP
		{'F', argLine, 0, 0},     // FLOAT
		{'I', argNumLine, 0, 0},  // INT
		{'J', argFixed, 4, 0},    // BININT
		{'K', argFixed, 1, 0},    // BININT1
		{'L', argNumLine, 0, 0},  // LONG
		{'M', argFixed, 2, 0},    // BININT2
		{'N', argNone, 0, 0},     // NONE
		{'P', argLine, 0, 0},     // PERSID
		{'Q', argNone, 0, 0},     // BINPERSID
		{'R', argNone, 0, 0},     // REDUCE
		{'S', argLine, 0, 0},     // STRING
		{'T', argLen4S, 0, 0},    // BINSTRING
		{'U', argLen1, 0, 0},     // SHORT_BINSTRING
		{'V', argLine, 0, 0},     // UNICODE
		{'X', argLen4, 0, 0},     // BINUNICODE
		{'a', argNone, 0, 0},     // APPEND
		{'b', argNone, 0, 0},     // BUILD
		{'c', argTwoLine, 0, 0},  // GLOBAL
		{'d', argNone, 0, -1},    // DICT
		{'}', argNone, 0, 0},     // EMPTY_DICT
		{'e', argNone, 0, -1},    // APPENDS
		{'g', argLine, 0, 0},     // GET
		{'h', argFixed, 1, 0},    // BINGET
		{'i', argTwoLine, 0, -1}, // INST
		{'j', argFixed, 4, 0},    // LONG_BINGET
		{'l', argNone, 0, -1},    // LIST
		{']', argNone, 0, 0},     // EMPTY_LIST
		{'o', argNone, 0, -1},    // OBJ
		{'p', argLine, 0, 0},     // PUT
		{'q', argFixed, 1, 0},    // BINPUT
		{'r', argFixed, 4, 0},    // LONG_BINPUT
		{'s', argNone, 0, 0},     // SETITEM
		{'t', argNone, 0, -1},    // TUPLE
		{')', argNone, 0, 0},     // EMPTY_TUPLE
		{'u', argNone, 0, -1},    // SETITEMS
		{'G', argFixed, 8, 0},    // BINFLOAT
		{0x80, argFixed, 1, 0},   // PROTO
		{0x81, argNone, 0, 0},    // NEWOBJ
		{0x82, argFixed, 1, 0},   // EXT1
		{0x83, argFixed, 2, 0},   // EXT2
		{0x84, argFixed, 4, 0},   // EXT4
		{0x85, argNone, 0, 0},    // TUPLE1
		{0x86, argNone, 0, 0},    // TUPLE2
		{0x87, argNone, 0, 0},    // TUPLE3
		{0x88, argNone, 0, 0},    // NEWTRUE
		{0x89, argNone, 0, 0},    // NEWFALSE
		{0x8a, argLen1, 0, 0},    // LONG1
		{0x8b, argLen4S, 0, 0},   // LONG4
		{'B', argLen4, 0, 0},     // BINBYTES
		{'C', argLen1, 0, 0},     // SHORT_BINBYTES
		{0x8c, argLen1, 0, 0},    // SHORT_BINUNICODE
		{0x8d, argLen8, 0, 0},    // BINUNICODE8
		{0x8e, argLen8, 0, 0},    // BINBYTES8
		{0x8f, argNone, 0, 0},    // EMPTY_SET
		{0x90, argNone, 0, -1},   // ADDITEMS
		{0x91, argNone, 0, -1},   // FROZENSET
		{0x92, argNone, 0, 0},    // NEWOBJ_EX
		{0x93, argNone, 0, 0},    // STACK_GLOBAL
		{0x94, argNone, 0, 0},    // MEMOIZE
		{0x95, argFixed, 8, 0},   // FRAME: its size is checked, its body scanned as opcodes
		{0x96, argLen8, 0, 0},    // BYTEARRAY8
		{0x97, argNone, 0, 0},    // NEXT_BUFFER
		{0x98, argNone, 0, 0},    // READONLY_BUFFER
	}
	for _, o := range ops {
		t[o.op] = opInfo{kind: o.kind, n: o.n, mark: o.mark, valid: true}
	}
	return t
}()

// isLong reports whether op is LONG1 or LONG4, whose length is bounded by
// maxNumberLen.
func isLong(op byte) bool { return op == 0x8a || op == 0x8b }

// scanPickle reads one pickle from r, starting at off, checking that every
// opcode is known and every argument lies within the size bytes of r, and
// returns the pickle's bytes through its STOP opcode. It allocates only
// once it knows the pickle's length, which is at most limit.
func scanPickle(r io.ReaderAt, off, size, limit int64) ([]byte, error) {
	if off >= size {
		return nil, errors.New("pickle: unexpected end of file")
	}
	br := bufio.NewReaderSize(io.NewSectionReader(r, off, size-off), 64<<10)
	n, err := scanOps(br, min(size-off, limit))
	if err != nil {
		return nil, fmt.Errorf("pickle at byte %d: %w", off, err)
	}
	b := make([]byte, n)
	if err := readFull(r, b, off); err != nil {
		return nil, err
	}
	return b, nil
}

// scanOps walks the opcodes from br and returns the length of the pickle
// through STOP. max bounds the length.
func scanOps(br *bufio.Reader, max int64) (int64, error) {
	var pos int64
	depth := 0
	var frameEnd int64 = -1
	need := func(n int64) error {
		if n < 0 || n > max-pos {
			return fmt.Errorf("argument of %d bytes at byte %d runs past the end", n, pos)
		}
		return nil
	}
	skip := func(n int64) error {
		if err := need(n); err != nil {
			return err
		}
		if _, err := br.Discard(int(n)); err != nil {
			return unexpected(err)
		}
		pos += n
		return nil
	}
	line := func(limit int) error {
		for i := 0; ; i++ {
			if i >= limit {
				return fmt.Errorf("line at byte %d is longer than %d bytes", pos, limit)
			}
			if err := need(1); err != nil {
				return err
			}
			c, err := br.ReadByte()
			if err != nil {
				return unexpected(err)
			}
			pos++
			if c == '\n' {
				return nil
			}
		}
	}
	var buf [8]byte
	fixed := func(n int) ([]byte, error) {
		if err := need(int64(n)); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(br, buf[:n]); err != nil {
			return nil, unexpected(err)
		}
		pos += int64(n)
		return buf[:n], nil
	}
	for {
		if err := need(1); err != nil {
			return 0, errors.New("no STOP opcode before the end")
		}
		op, err := br.ReadByte()
		if err != nil {
			return 0, unexpected(err)
		}
		at := pos
		pos++
		info := opcodes[op]
		if !info.valid {
			return 0, fmt.Errorf("unknown opcode 0x%02x at byte %d", op, at)
		}
		switch info.kind {
		case argFixed:
			b, err := fixed(info.n)
			if err != nil {
				return 0, err
			}
			if op == 0x95 { // FRAME
				n := binary.LittleEndian.Uint64(b)
				if n > uint64(max-pos) {
					return 0, fmt.Errorf("frame of %d bytes at byte %d runs past the end", n, at)
				}
				if frameEnd > pos {
					return 0, fmt.Errorf("frame at byte %d starts inside another", at)
				}
				frameEnd = pos + int64(n)
			}
		case argLine:
			err = line(maxLineLen)
		case argNumLine:
			err = line(maxNumberLen)
		case argTwoLine:
			if err = line(maxLineLen); err == nil {
				err = line(maxLineLen)
			}
		case argLen1:
			var b []byte
			if b, err = fixed(1); err == nil {
				err = skip(int64(b[0]))
			}
		case argLen4, argLen4S:
			var b []byte
			if b, err = fixed(4); err == nil {
				n := int64(binary.LittleEndian.Uint32(b))
				if info.kind == argLen4S {
					n = int64(int32(uint32(n)))
				}
				if isLong(op) && n > maxNumberLen {
					err = fmt.Errorf("integer of %d bytes at byte %d is too large", n, at)
				} else {
					err = skip(n)
				}
			}
		case argLen8:
			var b []byte
			if b, err = fixed(8); err == nil {
				n := binary.LittleEndian.Uint64(b)
				if n > uint64(max) {
					err = fmt.Errorf("argument of %d bytes at byte %d runs past the end", n, at)
				} else {
					err = skip(int64(n))
				}
			}
		}
		if err != nil {
			return 0, err
		}
		depth += info.mark
		if depth > maxMarkDepth {
			return 0, fmt.Errorf("more than %d nested marks", maxMarkDepth)
		}
		if depth < 0 {
			return 0, fmt.Errorf("opcode %q at byte %d pops a mark that was never pushed", op, at)
		}
		if op == '.' {
			return pos, nil
		}
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readFull fills p from r at off; a reader may report io.EOF with the
// last bytes.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
