// Package mmap maps whole files read-only for the weight readers
// (tensor/safetensors, zoo/torchfile), which fall back to ReadAt where
// mapping is not available. Its one job keeps the platform split (unix
// and the rest) in one place.
package mmap
