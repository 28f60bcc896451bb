package zoo

import (
	"fmt"
	"io"
	"os"

	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/tensor/safetensors"
	"github.com/tapir-ml/tapir/zoo/torchfile"
)

// LoadSafetensors reads every tensor of the safetensors file at path (see
// package tensor/safetensors): F64, F32, F16, BF16, I64, I32, U8 and BOOL
// with their bits; I16 and I8 widened to Int32. The file is
// memory-mapped and each tensor copied from the mapping once.
func LoadSafetensors(path string) (map[string]*tensor.Tensor, error) {
	sd, _, err := safetensors.Load(path)
	if err != nil {
		return nil, fmt.Errorf("zoo: %w", err)
	}
	return sd, nil
}

// SaveSafetensors writes sd to path in the safetensors format, names
// sorted, atomically: a reader sees the old file or the new one, never a
// part. Views are written in row-major order; tensors may be on any
// device.
func SaveSafetensors(path string, sd map[string]*tensor.Tensor) error {
	return SaveSafetensorsOrdered(path, sd, nil)
}

// SaveSafetensorsOrdered is [SaveSafetensors] with the names listed in the
// header in the given order (which must name every key of sd once), as
// nn.Save lists a module's state dict; nil means sorted.
func SaveSafetensorsOrdered(path string, sd map[string]*tensor.Tensor, order []string) error {
	if err := safetensors.Save(path, sd, order, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("zoo: %w", err)
	}
	return nil
}

// LoadTorch reads the state dict of a PyTorch .pt/.pth file at path,
// written by torch.save in the zip format (torch ≥ 1.6) or the legacy one,
// as torch.load would return it (see package zoo/torchfile): float32/64/16,
// bfloat16, int64/32, uint8 and bool tensors with their bits, int16 and
// int8 widened to Int32. A training checkpoint that holds the state dict
// under "state_dict", "model_state_dict", "model", "module" or "net" gives
// that dict. Nothing in the file is executed.
func LoadTorch(path string) (map[string]*tensor.Tensor, error) {
	sd, _, err := torchfile.Load(path)
	if err != nil {
		return nil, fmt.Errorf("zoo: %w", err)
	}
	return sd, nil
}

// SaveTorch writes sd to path as torch.save(OrderedDict) does in the zip
// format, for torch.load to read, with the keys in order (nil: sorted),
// atomically. Every tensor is written contiguous with a storage of its
// own; torch loads them as CPU tensors that do not require grad.
func SaveTorch(path string, sd map[string]*tensor.Tensor, order []string) error {
	if err := torchfile.Save(path, sd, order); err != nil {
		return fmt.Errorf("zoo: %w", err)
	}
	return nil
}

// LoadWeights reads a state dict from a safetensors file or a PyTorch
// .pt/.pth file, whichever path holds (told apart by the first bytes, not
// the name), and returns the names in the file's order as well.
func LoadWeights(path string) (sd map[string]*tensor.Tensor, order []string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("zoo: %w", err)
	}
	var head [9]byte
	n, err := io.ReadFull(f, head[:])
	f.Close()
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, nil, fmt.Errorf("zoo: %s: %w", path, err)
	}
	if isTorch(head[:n]) {
		sd, order, err = torchfile.Load(path)
	} else {
		sd, order, err = safetensors.Load(path)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("zoo: %w", err)
	}
	return sd, order, nil
}

// isTorch reports whether a file starting with head is one torch.save
// wrote: a zip archive, or a pickle (the legacy format). A safetensors
// file, whose ninth byte opens its JSON header, is never taken for one.
func isTorch(head []byte) bool {
	if len(head) >= 4 && string(head[:4]) == "PK\x03\x04" {
		return true
	}
	if len(head) > 8 && head[8] == '{' {
		return false
	}
	return len(head) > 0 && head[0] == 0x80
}
