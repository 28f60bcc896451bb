package cpu

import (
	"fmt"

	"github.com/tapir-ml/tapir/backend"
)

type float interface{ ~float32 | ~float64 }

type integer interface{ ~int64 | ~int32 | ~uint8 }

type number interface{ float | integer }

func badDType(op string, dt backend.DType) string {
	return fmt.Sprintf("cpu: %s: unsupported dtype %v", op, dt)
}

// u8 reinterprets a Bool buffer as bytes (Go stores bool as 0 or 1).
func u8(s backend.Storage) []uint8 { return slice[uint8](s) }
