package zoo

import (
	"fmt"
	"strings"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/zoo/text"
)

// The text models and the tokenizer of package zoo/text, re-exported.
type (
	// GPT2 is Hugging Face's GPT2LMHeadModel; see text.GPT2.
	GPT2 = text.GPT2
	// GPT2Config is GPT-2's shape; see text.GPT2Config.
	GPT2Config = text.GPT2Config
	// GenerateConfig holds GPT2.Generate's options; see text.GenerateConfig.
	GenerateConfig = text.GenerateConfig
	// KVCache holds a generation's keys and values; see text.KVCache.
	KVCache = text.KVCache
	// BERT is Hugging Face's BertModel; see text.BERT.
	BERT = text.BERT
	// BERTConfig is BERT's shape; see text.BERTConfig.
	BERTConfig = text.BERTConfig
	// Tokenizer is GPT-2's byte-level BPE tokenizer; see text.Tokenizer.
	Tokenizer = text.Tokenizer
)

// NewGPT2 returns a randomly initialized GPT-2 of shape cfg (see
// text.NewGPT2).
func NewGPT2(cfg GPT2Config) *GPT2 { return text.NewGPT2(cfg) }

// GPT2Small is GPT-2 small's shape ("gpt2", 124M parameters).
func GPT2Small() GPT2Config { return text.GPT2Small() }

// LoadGPT2Config reads a Hugging Face GPT-2 config.json (see
// text.LoadGPT2Config).
func LoadGPT2Config(path string) (GPT2Config, error) { return text.LoadGPT2Config(path) }

// LoadGPT2 builds a GPT-2 of shape cfg and loads the checkpoint at path
// into it by Hugging Face's names, in eval mode. A path ending in
// ".safetensors" is read one tensor at a time (text.LoadGPT2); any other
// is read whole by [LoadWeights], so PyTorch .pt/.pth files
// (pytorch_model.bin) load too, then by GPT2.LoadStateDict.
func LoadGPT2(path string, cfg GPT2Config) (*GPT2, error) {
	if strings.HasSuffix(path, ".safetensors") {
		return text.LoadGPT2(path, cfg)
	}
	var m *GPT2
	if err := tensor.Try(func() { m = text.NewGPT2(cfg) }); err != nil {
		return nil, fmt.Errorf("zoo: gpt2: %w", err)
	}
	if err := loadTextWeights(path, m.LoadStateDict); err != nil {
		return nil, err
	}
	nn.Eval(m)
	return m, nil
}

// NewBERT returns a randomly initialized BERT encoder of shape cfg (see
// text.NewBERT).
func NewBERT(cfg BERTConfig) *BERT { return text.NewBERT(cfg) }

// BERTBase is bert-base-uncased's shape.
func BERTBase() BERTConfig { return text.BERTBase() }

// LoadBERTConfig reads a Hugging Face BERT config.json (see
// text.LoadBERTConfig).
func LoadBERTConfig(path string) (BERTConfig, error) { return text.LoadBERTConfig(path) }

// LoadBERT is [LoadGPT2] for BERT: safetensors or .pt/.pth, Hugging
// Face's names, eval mode.
func LoadBERT(path string, cfg BERTConfig) (*BERT, error) {
	if strings.HasSuffix(path, ".safetensors") {
		return text.LoadBERT(path, cfg)
	}
	var m *BERT
	if err := tensor.Try(func() { m = text.NewBERT(cfg) }); err != nil {
		return nil, fmt.Errorf("zoo: bert: %w", err)
	}
	if err := loadTextWeights(path, m.LoadStateDict); err != nil {
		return nil, err
	}
	nn.Eval(m)
	return m, nil
}

// loadTextWeights reads the weights file at path and hands them to load.
func loadTextWeights(path string, load func(map[string]*tensor.Tensor) error) error {
	sd, _, err := LoadWeights(path)
	if err != nil {
		return err
	}
	if err := load(sd); err != nil {
		return fmt.Errorf("zoo: %s: %w", path, err)
	}
	return nil
}

// LoadTokenizer reads GPT-2's byte-level BPE tokenizer from vocab.json
// and merges.txt (see text.LoadTokenizer).
func LoadTokenizer(vocabPath, mergesPath string) (*Tokenizer, error) {
	return text.LoadTokenizer(vocabPath, mergesPath)
}
