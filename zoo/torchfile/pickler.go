package torchfile

import (
	"bytes"
	"encoding/binary"
	"math/big"
)

// pickler writes the protocol-2 pickle of a state dict the way Python's
// pickle module writes torch.save's: an OrderedDict of
// torch._utils._rebuild_tensor_v2 calls whose storages are persistent ids.
// It memoizes what Python memoizes (every global, string and non-empty
// tuple, by object: the strings 'storage' and 'cpu' are one object each in
// torch), so its output is byte for byte Python's.
type pickler struct {
	b       bytes.Buffer
	memo    int
	globals map[string]int
	consts  map[string]int
}

func newPickler() *pickler {
	p := &pickler{globals: map[string]int{}, consts: map[string]int{}}
	p.b.Write([]byte{0x80, 2}) // PROTO 2
	return p
}

// put memoizes the object just written.
func (p *pickler) put() {
	if p.memo < 256 {
		p.b.Write([]byte{'q', byte(p.memo)}) // BINPUT
	} else {
		p.b.WriteByte('r') // LONG_BINPUT
		p.b.Write(binary.LittleEndian.AppendUint32(nil, uint32(p.memo)))
	}
	p.memo++
}

// get pushes memo entry i.
func (p *pickler) get(i int) {
	if i < 256 {
		p.b.Write([]byte{'h', byte(i)}) // BINGET
	} else {
		p.b.WriteByte('j') // LONG_BINGET
		p.b.Write(binary.LittleEndian.AppendUint32(nil, uint32(i)))
	}
}

// global pushes module.name (GLOBAL), memoized.
func (p *pickler) global(module, name string) {
	key := module + "\n" + name + "\n"
	if i, ok := p.globals[key]; ok {
		p.get(i)
		return
	}
	p.b.WriteByte('c')
	p.b.WriteString(key)
	p.globals[key] = p.memo
	p.put()
}

// str pushes a new string object (BINUNICODE), memoized.
func (p *pickler) str(s string) {
	p.b.WriteByte('X')
	p.b.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(s))))
	p.b.WriteString(s)
	p.put()
}

// constStr pushes a string that is the same object each time.
func (p *pickler) constStr(s string) {
	if i, ok := p.consts[s]; ok {
		p.get(i)
		return
	}
	p.consts[s] = p.memo
	p.str(s)
}

// int pushes an int as Python's save_long does at protocol 2.
func (p *pickler) int(v int64) {
	switch {
	case v >= 0 && v <= 0xff:
		p.b.Write([]byte{'K', byte(v)}) // BININT1
	case v >= 0 && v <= 0xffff:
		p.b.WriteByte('M') // BININT2
		p.b.Write(binary.LittleEndian.AppendUint16(nil, uint16(v)))
	case v >= -1<<31 && v < 1<<31:
		p.b.WriteByte('J') // BININT
		p.b.Write(binary.LittleEndian.AppendUint32(nil, uint32(int32(v))))
	default:
		enc := encodeLong(big.NewInt(v))
		p.b.Write([]byte{0x8a, byte(len(enc))}) // LONG1
		p.b.Write(enc)
	}
}

// encodeLong is Python's pickle.encode_long: the shortest two's-complement
// little-endian bytes of x (empty for 0).
func encodeLong(x *big.Int) []byte {
	if x.Sign() == 0 {
		return nil
	}
	n := x.BitLen()/8 + 1
	// two's complement in n bytes
	m := new(big.Int).Lsh(big.NewInt(1), uint(8*n))
	v := new(big.Int).Set(x)
	if v.Sign() < 0 {
		v.Add(v, m)
	}
	be := v.FillBytes(make([]byte, n))
	out := make([]byte, n)
	for i := range be {
		out[i] = be[n-1-i]
	}
	// Python: a negative number whose top byte is 0xff and whose next
	// byte has its sign bit set loses that byte.
	if x.Sign() < 0 && n > 1 && out[n-1] == 0xff && out[n-2]&0x80 != 0 {
		out = out[:n-1]
	}
	return out
}

// ints pushes a tuple of ints, as save_tuple does.
func (p *pickler) ints(vs []int) {
	switch len(vs) {
	case 0:
		p.b.WriteByte(')') // EMPTY_TUPLE, not memoized
		return
	case 1, 2, 3:
		for _, v := range vs {
			p.int(int64(v))
		}
		p.b.WriteByte(byte(0x85 + len(vs) - 1)) // TUPLE1..3
	default:
		p.b.WriteByte('(')
		for _, v := range vs {
			p.int(int64(v))
		}
		p.b.WriteByte('t')
	}
	p.put()
}

// tensor pushes _rebuild_tensor_v2((storage), 0, size, stride, False,
// OrderedDict()) for a contiguous tensor that owns its storage.
func (p *pickler) tensor(class, key string, numel int, shape []int) {
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.b.WriteByte('(')
	// the persistent id ('storage', torch.<class>, key, 'cpu', numel)
	p.b.WriteByte('(')
	p.constStr("storage")
	p.global("torch", class)
	p.str(key)
	p.constStr("cpu")
	p.int(int64(numel))
	p.b.WriteByte('t')
	p.put()
	p.b.WriteByte('Q') // BINPERSID
	p.int(0)           // storage offset
	p.ints(shape)
	strides := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		strides[i] = s
		s *= max(shape[i], 1) // as torch: a 0 dim does not zero the strides

	}
	p.ints(strides)
	p.b.WriteByte(0x89) // NEWFALSE: requires_grad
	p.global("collections", "OrderedDict")
	p.b.WriteByte(')')
	p.b.WriteByte('R')
	p.put()
	p.b.WriteByte('t')
	p.put()
	p.b.WriteByte('R')
	p.put()
}

// batchSize is how many items Python's pickler puts under one SETITEMS.
const batchSize = 1000
