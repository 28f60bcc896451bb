package tensor

import (
	"errors"
	"fmt"
)

// Error is the value chainable ops panic with on a programmer error: a
// shape, dtype or device that does not fit the op, an index out of range,
// or a misuse of autograd. It names the op; errors.Is matches its Kind.
// Recover it with [Try].
type Error struct {
	Op   string // the op, e.g. "matmul"
	Kind error  // ErrShape, ErrDType, ErrDevice, ErrIndex, ErrAutograd, ErrInPlace, ErrAnomaly or ErrOutOfMemory
	Msg  string
}

func (e *Error) Error() string { return "tensor: " + e.Op + ": " + e.Msg }

// Unwrap returns e.Kind.
func (e *Error) Unwrap() error { return e.Kind }

// The kinds of Error.
var (
	ErrShape       = errors.New("shape mismatch")
	ErrDType       = errors.New("unsupported dtype")
	ErrDevice      = errors.New("device mismatch")
	ErrIndex       = errors.New("index out of range")
	ErrAutograd    = errors.New("autograd misuse")
	ErrInPlace     = errors.New("tensor modified in place after being saved for backward")
	ErrAnomaly     = errors.New("anomaly in backward")
	ErrOutOfMemory = errors.New("out of memory")
)

func fail(op string, kind error, format string, args ...any) {
	panic(&Error{Op: op, Kind: kind, Msg: fmt.Sprintf(format, args...)})
}

// Try runs f and returns the *Error that f panicked with, or nil. Any other
// panic propagates: Try recovers programmer errors raised by package
// tensor, not bugs.
func Try(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(*Error); ok {
				err = e
				return
			}
			panic(r)
		}
	}()
	f()
	return nil
}
