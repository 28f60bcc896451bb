package data

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/tapir-ml/tapir/tensor"
)

// TextLevel is the unit of a language model's vocabulary.
type TextLevel int

const (
	// CharLevel makes each Unicode character a token. The vocabulary is
	// the text's distinct characters in sorted order (as
	// sorted(set(text)) in Python).
	CharLevel TextLevel = iota
	// WordLevel makes each whitespace-separated word a token and ends each
	// line with the token EOS, as PyTorch's word_language_model example;
	// the vocabulary lists the words in order of first appearance.
	WordLevel
)

// EOS is the end-of-line token of word-level text.
const EOS = "<eos>"

// Vocab maps tokens to ids 0…Len()-1 and back.
type Vocab struct {
	Level TextLevel
	// Tokens lists the tokens by id.
	Tokens []string
	ids    map[string]int64
}

// NewVocab builds the vocabulary of text at the given level.
func NewVocab(text string, level TextLevel) *Vocab {
	v := &Vocab{Level: level, ids: map[string]int64{}}
	if level == CharLevel {
		for _, r := range text {
			if _, ok := v.ids[string(r)]; !ok {
				v.ids[string(r)] = 0
				v.Tokens = append(v.Tokens, string(r))
			}
		}
		sort.Strings(v.Tokens) // UTF-8 byte order is code point order
	} else {
		for _, tok := range words(text) {
			if _, ok := v.ids[tok]; !ok {
				v.ids[tok] = 0
				v.Tokens = append(v.Tokens, tok)
			}
		}
	}
	for i, t := range v.Tokens {
		v.ids[t] = int64(i)
	}
	return v
}

// words splits text into lines and lines into words, each line followed by
// EOS (a last line without a newline too).
func words(text string) []string {
	var out []string
	for line := range strings.Lines(text) {
		out = append(out, strings.Fields(line)...)
		out = append(out, EOS)
	}
	return out
}

// Len returns the number of tokens.
func (v *Vocab) Len() int { return len(v.Tokens) }

// ID returns the id of a token and whether the vocabulary has it.
func (v *Vocab) ID(token string) (int64, bool) {
	id, ok := v.ids[token]
	return id, ok
}

// Encode returns the ids of text's tokens. A token outside the vocabulary
// is an error that names it and its position.
func (v *Vocab) Encode(text string) ([]int64, error) {
	var toks []string
	if v.Level == CharLevel {
		toks = make([]string, 0, utf8.RuneCountInString(text))
		for _, r := range text {
			toks = append(toks, string(r))
		}
	} else {
		toks = words(text)
	}
	out := make([]int64, len(toks))
	for i, t := range toks {
		id, ok := v.ids[t]
		if !ok {
			return nil, fmt.Errorf("data: vocab: token %d, %q, is not in the vocabulary", i, t)
		}
		out[i] = id
	}
	return out, nil
}

// Decode returns the text of ids: characters one after another, or words
// separated by spaces with EOS as a line break. An id out of range is
// written as U+FFFD.
func (v *Vocab) Decode(ids []int64) string {
	var b strings.Builder
	lineStart := true
	for _, id := range ids {
		tok := "\uFFFD"
		if id >= 0 && id < int64(len(v.Tokens)) {
			tok = v.Tokens[id]
		}
		if v.Level == CharLevel {
			b.WriteString(tok)
			continue
		}
		if tok == EOS {
			b.WriteByte('\n')
			lineStart = true
			continue
		}
		if !lineStart {
			b.WriteByte(' ')
		}
		b.WriteString(tok)
		lineStart = false
	}
	return b.String()
}

// TextCorpus is a text as token ids, with the vocabulary built from it, for
// language modelling.
type TextCorpus struct {
	Vocab *Vocab
	IDs   []int64
}

// ReadText reads all of r as UTF-8 text and tokenizes it at the given
// level.
func ReadText(r io.Reader, level TextLevel) (*TextCorpus, error) {
	b, err := io.ReadAll(bufio.NewReader(r))
	if err != nil {
		return nil, fmt.Errorf("data: text: %w", err)
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("data: text: the input is not valid UTF-8")
	}
	text := string(b)
	v := NewVocab(text, level)
	ids, err := v.Encode(text)
	if err != nil {
		return nil, err
	}
	return &TextCorpus{Vocab: v, IDs: ids}, nil
}

// TextFile reads the text file at path; see ReadText.
func TextFile(path string, level TextLevel) (*TextCorpus, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: text: %w", err)
	}
	defer f.Close()
	c, err := ReadText(f, level)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return c, nil
}

// Windows returns the corpus cut into training windows; see
// NewWindowDataset.
func (c *TextCorpus) Windows(seqLen, stride int) *WindowDataset {
	return NewWindowDataset(c.IDs, seqLen, stride)
}

// WindowDataset is a sequence of token ids cut into fixed-length windows
// for next-token prediction: sample i has Input ids[s : s+SeqLen] and
// Target ids[s+1 : s+SeqLen+1], both Int64 [SeqLen], where s = i·Stride.
// Stacked into a batch they are [B, SeqLen].
type WindowDataset struct {
	IDs            []int64
	SeqLen, Stride int
}

// NewWindowDataset returns the windows of length seqLen starting every
// stride tokens (0 means seqLen: windows that do not overlap) that fit in
// ids with their one-token-later target.
func NewWindowDataset(ids []int64, seqLen, stride int) *WindowDataset {
	if seqLen <= 0 || stride < 0 {
		panic(fmt.Sprintf("data: windows: sequence length %d must be positive and stride %d non-negative", seqLen, stride))
	}
	if stride == 0 {
		stride = seqLen
	}
	return &WindowDataset{IDs: ids, SeqLen: seqLen, Stride: stride}
}

// Len returns the number of windows.
func (d *WindowDataset) Len() int {
	if len(d.IDs) < d.SeqLen+1 {
		return 0
	}
	return (len(d.IDs)-d.SeqLen-1)/d.Stride + 1
}

// At returns window i.
func (d *WindowDataset) At(i int) (Sample, error) {
	if err := checkIndex(i, d.Len()); err != nil {
		return Sample{}, err
	}
	s := i * d.Stride
	return Sample{
		Input:  tensor.FromSlice(append([]int64(nil), d.IDs[s:s+d.SeqLen]...)),
		Target: tensor.FromSlice(append([]int64(nil), d.IDs[s+1:s+d.SeqLen+1]...)),
	}, nil
}
