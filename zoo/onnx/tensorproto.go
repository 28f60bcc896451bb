package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"

	"google.golang.org/protobuf/proto"

	"github.com/tapir-ml/tapir/backend"
	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/zoo/onnx/internal/onnxpb"
)

// maxRank is the largest number of dims a tensor of a model may have.
const maxRank = 32

// ONNX element types (TensorProto.DataType).
const (
	tUndefined  = 0
	tFloat      = 1
	tUint8      = 2
	tInt8       = 3
	tUint16     = 4
	tInt16      = 5
	tInt32      = 6
	tInt64      = 7
	tString     = 8
	tBool       = 9
	tFloat16    = 10
	tDouble     = 11
	tUint32     = 12
	tUint64     = 13
	tComplex64  = 14
	tComplex128 = 15
	tBFloat16   = 16
)

// typeName is the ONNX name of an element type, for error messages.
func typeName(t int32) string {
	if n, ok := onnxpb.TensorProto_DataType_name[t]; ok {
		return n
	}
	return fmt.Sprintf("type %d", t)
}

// dtypeOf maps an ONNX element type to the Tapir dtype that holds it.
// INT8, INT16 and UINT16 widen to Int32, UINT32 and UINT64 to Int64:
// Tapir has no narrower integer types, and every value of those types
// fits (UINT64 values above 2⁶³−1 excepted). STRING and the complex
// types have no Tapir dtype.
func dtypeOf(t int32) (tensor.DType, error) {
	switch t {
	case tFloat:
		return tensor.Float32, nil
	case tDouble:
		return tensor.Float64, nil
	case tFloat16:
		return tensor.Float16, nil
	case tBFloat16:
		return tensor.BFloat16, nil
	case tInt64, tUint32, tUint64:
		return tensor.Int64, nil
	case tInt32, tInt8, tInt16, tUint16:
		return tensor.Int32, nil
	case tUint8:
		return tensor.Uint8, nil
	case tBool:
		return tensor.Bool, nil
	}
	return 0, fmt.Errorf("element type %s is not supported", typeName(t))
}

// onnxType is the ONNX element type of a Tapir dtype.
func onnxType(dt tensor.DType) int32 {
	switch dt {
	case tensor.Float32:
		return tFloat
	case tensor.Float64:
		return tDouble
	case tensor.Float16:
		return tFloat16
	case tensor.BFloat16:
		return tBFloat16
	case tensor.Int64:
		return tInt64
	case tensor.Int32:
		return tInt32
	case tensor.Uint8:
		return tUint8
	case tensor.Bool:
		return tBool
	}
	return tUndefined
}

// checkDims validates a tensor's dims and returns them as ints with the
// element count. The count is limited by limit (elements), so that a
// declared shape can never ask for more memory than the data behind it.
func checkDims(dims []int64, limit int64) ([]int, int64, error) {
	if len(dims) > maxRank {
		return nil, 0, fmt.Errorf("%d dims (at most %d)", len(dims), maxRank)
	}
	shape := make([]int, len(dims))
	n := int64(1)
	for i, d := range dims {
		if d < 0 {
			return nil, 0, fmt.Errorf("negative dim %d in %v", d, dims)
		}
		shape[i] = int(d)
		if d == 0 {
			n = 0
		}
	}
	if n != 0 {
		for _, d := range dims {
			if d > limit || n > limit/d {
				return nil, 0, fmt.Errorf("shape %v has more elements than its data (%d)", dims, limit)
			}
			n *= d
		}
	}
	return shape, n, nil
}

// tensorFromProto converts a TensorProto. Data may be in raw_data (little
// endian) or in the typed field of its element type; external data is not
// supported.
func tensorFromProto(p *onnxpb.TensorProto) (*tensor.Tensor, error) {
	if p == nil {
		return nil, fmt.Errorf("no tensor")
	}
	if p.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || len(p.GetExternalData()) > 0 {
		return nil, fmt.Errorf("tensor %q: external data is not supported; re-save the model with its weights inside the file (onnx.save_model(..., save_as_external_data=False))", p.GetName())
	}
	if p.Segment != nil {
		return nil, fmt.Errorf("tensor %q: segmented tensors are not supported", p.GetName())
	}
	t, err := decodeTensor(p)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", p.GetName(), err)
	}
	return t, nil
}

func decodeTensor(p *onnxpb.TensorProto) (*tensor.Tensor, error) {
	et := p.GetDataType()
	dt, err := dtypeOf(et)
	if err != nil {
		return nil, err
	}
	raw := p.RawData
	// The number of elements the data can hold bounds the shape.
	var avail int64
	size := int64(elemSize(et))
	if raw != nil {
		avail = int64(len(raw)) / size
	} else {
		switch et {
		case tFloat:
			avail = int64(len(p.FloatData))
		case tDouble:
			avail = int64(len(p.DoubleData))
		case tInt64:
			avail = int64(len(p.Int64Data))
		case tUint32, tUint64:
			avail = int64(len(p.Uint64Data))
		default:
			avail = int64(len(p.Int32Data))
		}
	}
	shape, n, err := checkDims(p.Dims, avail)
	if err != nil {
		return nil, err
	}
	if n != avail {
		if raw != nil {
			return nil, fmt.Errorf("shape %v of %s needs %d bytes of raw data, has %d", p.Dims, typeName(et), n*size, len(raw))
		}
		return nil, fmt.Errorf("shape %v needs %d values, the data has %d", p.Dims, n, avail)
	}
	if raw != nil && int64(len(raw)) != n*size {
		return nil, fmt.Errorf("shape %v of %s needs %d bytes of raw data, has %d", p.Dims, typeName(et), n*size, len(raw))
	}
	le := binary.LittleEndian
	switch et {
	case tFloat, tFloat16, tBFloat16:
		v := make([]float32, n)
		for i := range v {
			switch {
			case et == tFloat && raw != nil:
				v[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
			case et == tFloat:
				v[i] = p.FloatData[i]
			default:
				var bits uint16
				if raw != nil {
					bits = le.Uint16(raw[2*i:])
				} else {
					bits = uint16(p.Int32Data[i])
				}
				if et == tFloat16 {
					v[i] = backend.Float16ToFloat32(bits)
				} else {
					v[i] = backend.BFloat16ToFloat32(bits)
				}
			}
		}
		return tensor.FromSlice(v, shape...).To(dt), nil
	case tDouble:
		v := make([]float64, n)
		for i := range v {
			if raw != nil {
				v[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
			} else {
				v[i] = p.DoubleData[i]
			}
		}
		return tensor.FromSlice(v, shape...), nil
	case tInt64, tUint32, tUint64:
		v := make([]int64, n)
		for i := range v {
			switch {
			case raw != nil && et == tUint32:
				v[i] = int64(le.Uint32(raw[4*i:]))
			case raw != nil:
				v[i] = int64(le.Uint64(raw[8*i:]))
			case et == tInt64:
				v[i] = p.Int64Data[i]
			default:
				v[i] = int64(p.Uint64Data[i])
			}
		}
		return tensor.FromSlice(v, shape...), nil
	case tInt32, tInt8, tInt16, tUint16:
		v := make([]int32, n)
		for i := range v {
			if raw == nil {
				v[i] = p.Int32Data[i]
				continue
			}
			switch et {
			case tInt32:
				v[i] = int32(le.Uint32(raw[4*i:]))
			case tInt16:
				v[i] = int32(int16(le.Uint16(raw[2*i:])))
			case tUint16:
				v[i] = int32(le.Uint16(raw[2*i:]))
			default:
				v[i] = int32(int8(raw[i]))
			}
		}
		return tensor.FromSlice(v, shape...), nil
	case tUint8:
		v := make([]uint8, n)
		for i := range v {
			if raw != nil {
				v[i] = raw[i]
			} else {
				v[i] = uint8(p.Int32Data[i])
			}
		}
		return tensor.FromSlice(v, shape...), nil
	case tBool:
		v := make([]bool, n)
		for i := range v {
			if raw != nil {
				v[i] = raw[i] != 0
			} else {
				v[i] = p.Int32Data[i] != 0
			}
		}
		return tensor.FromSlice(v, shape...), nil
	}
	return nil, fmt.Errorf("element type %s is not supported", typeName(et))
}

// elemSize is the size in bytes of one element of an ONNX type in
// raw_data.
func elemSize(et int32) int {
	switch et {
	case tDouble, tInt64, tUint64, tComplex64:
		return 8
	case tFloat, tInt32, tUint32:
		return 4
	case tFloat16, tBFloat16, tInt16, tUint16:
		return 2
	case tComplex128:
		return 16
	}
	return 1
}

// DecodeTensor decodes a serialized ONNX TensorProto, as the .pb files of
// ONNX's test data sets hold them, and returns its name and value. The
// element types map to Tapir's as in a model: INT8, INT16 and UINT16 read
// as Int32, UINT32 and UINT64 as Int64.
func DecodeTensor(data []byte) (name string, t *tensor.Tensor, err error) {
	var p onnxpb.TensorProto
	if err := proto.Unmarshal(data, &p); err != nil {
		return "", nil, fmt.Errorf("onnx: decoding tensor: %w", err)
	}
	t, err = tensorFromProto(&p)
	if err != nil {
		return "", nil, fmt.Errorf("onnx: %w", err)
	}
	return p.GetName(), t, nil
}

// ReadTensor reads a file holding one serialized TensorProto; see
// DecodeTensor.
func ReadTensor(path string) (name string, t *tensor.Tensor, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("onnx: %w", err)
	}
	return DecodeTensor(data)
}
