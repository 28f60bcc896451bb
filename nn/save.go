package nn

import (
	"fmt"

	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/tensor/safetensors"
)

// Save writes m's state dict to path in the safetensors format, keys in
// state-dict order. The write is atomic: a temporary file in the same
// directory is written, synced and renamed over path, so a crash leaves
// either the old file or the new one, never a torn one. Tensors shared
// under several names are written under each.
func Save(path string, m Module) error {
	keys := StateDictKeys(m)
	sd := StateDict(m)
	if err := safetensors.Save(path, sd, keys, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("nn: save %s: %w", path, err)
	}
	return nil
}

// Load reads a safetensors file written by [Save] (or by torch's
// safetensors.torch.save_file) into m, strictly: every key must match.
// A malformed file is an error, never a panic; a state dict that does not
// fit m is a *LoadError listing every bad key.
func Load(path string, m Module) error { return LoadWith(path, m, true) }

// LoadWith is [Load] with torch's strict flag.
func LoadWith(path string, m Module, strict bool) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return fmt.Errorf("nn: load %s: %w", path, err)
	}
	defer f.Close()
	sd := make(map[string]*tensor.Tensor, len(f.Names()))
	for _, name := range f.Names() {
		t, err := f.Tensor(name)
		if err != nil {
			return fmt.Errorf("nn: load %s: %w", path, err)
		}
		sd[name] = t
	}
	return LoadStateDict(m, sd, strict)
}
