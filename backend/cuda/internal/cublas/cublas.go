package cublas

import (
	"fmt"
	"unsafe"

	"github.com/tapir-ml/tapir/backend/cuda/internal/dl"
)

// Operation is cublasOperation_t.
type Operation int

// The operations.
const (
	OpN Operation = 0
	OpT Operation = 1
)

// Lib is the bound cuBLAS library.
type Lib struct {
	Path string

	create, destroy, setStream, sgemm, dgemm, sgemmBatched, dgemmBatched, statusName uintptr
}

// Load finds and binds cuBLAS (after cuBLASLt).
func Load() (*Lib, error) {
	if lt, err := dl.OpenCached(dl.CuBLASLt); err == nil {
		_ = lt // loaded with RTLD_GLOBAL so that libcublas finds it
	}
	h, err := dl.OpenCached(dl.CuBLAS)
	if err != nil {
		return nil, fmt.Errorf("cublas: %w", err)
	}
	l := &Lib{Path: h.Path}
	if err := h.Bind(map[string]*uintptr{
		"cublasCreate_v2":     &l.create,
		"cublasDestroy_v2":    &l.destroy,
		"cublasSetStream_v2":  &l.setStream,
		"cublasSgemm_v2":      &l.sgemm,
		"cublasDgemm_v2":      &l.dgemm,
		"cublasSgemmBatched":  &l.sgemmBatched,
		"cublasDgemmBatched":  &l.dgemmBatched,
		"cublasGetStatusName": &l.statusName,
	}, "cublasGetStatusName"); err != nil {
		return nil, fmt.Errorf("cublas: %w", err)
	}
	return l, nil
}

// Error is a failed cuBLAS call.
type Error struct {
	Call   string
	Status int
	Name   string
}

func (e *Error) Error() string { return fmt.Sprintf("cublas: %s: %s (%d)", e.Call, e.Name, e.Status) }

func (l *Lib) check(call string, r uintptr) error {
	st := int(int32(r))
	if st == 0 {
		return nil
	}
	e := &Error{Call: call, Status: st, Name: "CUBLAS_STATUS_" + fmt.Sprint(st)}
	if l.statusName != 0 {
		r := dl.Call(l.statusName, r)
		if s := dl.GoString(r); s != "" {
			e.Name = s
		}
	}
	return e
}

// Handle is a cuBLAS handle.
type Handle uintptr

// Create makes a handle (in the current context).
func (l *Lib) Create() (Handle, error) {
	var h uintptr
	r := dl.Call(l.create, uintptr(unsafe.Pointer(&h)))
	return Handle(h), l.check("cublasCreate_v2", r)
}

// Destroy frees a handle.
func (l *Lib) Destroy(h Handle) error {
	r := dl.Call(l.destroy, uintptr(h))
	return l.check("cublasDestroy_v2", r)
}

// SetStream makes h queue its work on stream s.
func (l *Lib) SetStream(h Handle, s uintptr) error {
	r := dl.Call(l.setStream, uintptr(h), s)
	return l.check("cublasSetStream_v2", r)
}

// Gemm is one column-major product C = op(A)·op(B) (alpha 1, beta 0)
// with C m×n, op(A) m×k, op(B) k×n; pointers are device addresses.
type Gemm struct {
	TransA, TransB Operation
	M, N, K        int
	A, B, C        uintptr
	LdA, LdB, LdC  int
}

// SGemm runs g on float32 data; DGemm on float64.
func (l *Lib) SGemm(h Handle, g Gemm) error {
	alpha, beta := float32(1), float32(0)
	r := dl.Call(l.sgemm, uintptr(h), uintptr(g.TransA), uintptr(g.TransB), uintptr(g.M), uintptr(g.N), uintptr(g.K),
		uintptr(unsafe.Pointer(&alpha)), g.A, uintptr(g.LdA), g.B, uintptr(g.LdB), uintptr(unsafe.Pointer(&beta)), g.C, uintptr(g.LdC))
	return l.check("cublasSgemm_v2", r)
}

// DGemm runs g on float64 data.
func (l *Lib) DGemm(h Handle, g Gemm) error {
	alpha, beta := float64(1), float64(0)
	r := dl.Call(l.dgemm, uintptr(h), uintptr(g.TransA), uintptr(g.TransB), uintptr(g.M), uintptr(g.N), uintptr(g.K),
		uintptr(unsafe.Pointer(&alpha)), g.A, uintptr(g.LdA), g.B, uintptr(g.LdB), uintptr(unsafe.Pointer(&beta)), g.C, uintptr(g.LdC))
	return l.check("cublasDgemm_v2", r)
}

// GemmBatched runs g over batch matrices whose device addresses are in
// the device arrays aArr, bArr, cArr (g.A, g.B, g.C are ignored).
func (l *Lib) GemmBatched(h Handle, f64 bool, g Gemm, aArr, bArr, cArr uintptr, batch int) error {
	var r uintptr
	if f64 {
		alpha, beta := float64(1), float64(0)
		r = dl.Call(l.dgemmBatched, uintptr(h), uintptr(g.TransA), uintptr(g.TransB), uintptr(g.M), uintptr(g.N), uintptr(g.K),
			uintptr(unsafe.Pointer(&alpha)), aArr, uintptr(g.LdA), bArr, uintptr(g.LdB), uintptr(unsafe.Pointer(&beta)), cArr, uintptr(g.LdC), uintptr(batch))
		return l.check("cublasDgemmBatched", r)
	}
	alpha, beta := float32(1), float32(0)
	r = dl.Call(l.sgemmBatched, uintptr(h), uintptr(g.TransA), uintptr(g.TransB), uintptr(g.M), uintptr(g.N), uintptr(g.K),
		uintptr(unsafe.Pointer(&alpha)), aArr, uintptr(g.LdA), bArr, uintptr(g.LdB), uintptr(unsafe.Pointer(&beta)), cArr, uintptr(g.LdC), uintptr(batch))
	return l.check("cublasSgemmBatched", r)
}
