package backend

import "fmt"

// DeviceType is a kind of device.
type DeviceType uint8

// The device kinds.
const (
	CPUType DeviceType = iota
	CUDAType
)

func (t DeviceType) String() string {
	switch t {
	case CPUType:
		return "cpu"
	case CUDAType:
		return "cuda"
	}
	return fmt.Sprintf("DeviceType(%d)", uint8(t))
}

// Device names a device: its kind and, for accelerators, its ordinal.
// The zero value is the CPU.
type Device struct {
	Type  DeviceType
	Index int
}

// CPU is the host processor.
var CPU = Device{Type: CPUType}

// CUDA returns the i-th NVIDIA GPU.
func CUDA(i int) Device { return Device{Type: CUDAType, Index: i} }

// String is PyTorch's spelling: "cpu", "cuda:0".
func (d Device) String() string {
	if d.Type == CPUType {
		return "cpu"
	}
	return fmt.Sprintf("%s:%d", d.Type, d.Index)
}
