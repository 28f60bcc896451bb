package text

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// EndOfText is GPT-2's only special token, "<|endoftext|>" (id 50256 in
// GPT-2's vocabulary), which it uses both to begin and to end texts.
const EndOfText = "<|endoftext|>"

// byteEncoder maps each byte to the printable character that stands for
// it in a byte-level vocabulary (GPT-2's bytes_to_unicode): the bytes
// that are printable Latin-1 characters stand for themselves, the other 68
// are shifted to U+0100…U+0143 in byte order. byteDecoder inverts it.
var byteEncoder, byteDecoder = func() (enc [256]rune, dec map[rune]byte) {
	printable := func(b int) bool {
		return '!' <= b && b <= '~' || '¡' <= b && b <= '¬' || '®' <= b && b <= 'ÿ'
	}
	n := 0
	for b := range 256 {
		if printable(b) {
			enc[b] = rune(b)
		} else {
			enc[b] = rune(256 + n)
			n++
		}
	}
	dec = make(map[rune]byte, 256)
	for b, r := range enc {
		dec[r] = byte(b)
	}
	return enc, dec
}()

// Tokenizer is GPT-2's byte-level BPE tokenizer (openai/gpt-2's
// encoder.py, Hugging Face's GPT2Tokenizer): text is split by
// [Pretokenize], each piece's UTF-8 bytes are mapped to printable
// characters, and adjacent symbols are merged by rank, lowest first,
// until no ranked pair is left. Every byte has a symbol, so any string
// (valid UTF-8 or not) encodes, and Decode(Encode(s)) == s.
//
// A Tokenizer is safe for concurrent use.
type Tokenizer struct {
	encoder map[string]int
	decoder map[int]string // id → token
	size    int            // one more than the largest id
	ranks   map[[2]string]int
	special []string // recognized by EncodeWithSpecial, longest first

	mu    sync.RWMutex
	cache map[string][]int // piece → ids
}

// maxCache bounds the number of cached pieces; the cache is dropped when
// it fills (texts with many distinct words would otherwise grow it
// without bound).
const maxCache = 1 << 16

// LoadTokenizer reads a byte-level BPE tokenizer from GPT-2's files: the
// vocabulary vocabPath (vocab.json, a.k.a. encoder.json: a JSON object
// from token to id) and the merges mergesPath (merges.txt, a.k.a.
// vocab.bpe). See [NewTokenizer].
func LoadTokenizer(vocabPath, mergesPath string) (*Tokenizer, error) {
	vf, err := os.Open(vocabPath)
	if err != nil {
		return nil, fmt.Errorf("text: tokenizer: %w", err)
	}
	defer vf.Close()
	mf, err := os.Open(mergesPath)
	if err != nil {
		return nil, fmt.Errorf("text: tokenizer: %w", err)
	}
	defer mf.Close()
	return ReadTokenizer(vf, mf)
}

// ReadTokenizer is [LoadTokenizer] from readers.
func ReadTokenizer(vocab, merges io.Reader) (*Tokenizer, error) {
	var enc map[string]int
	dec := json.NewDecoder(vocab)
	if err := dec.Decode(&enc); err != nil {
		return nil, fmt.Errorf("text: tokenizer: vocab: %w", err)
	}
	ms, err := readMerges(merges)
	if err != nil {
		return nil, err
	}
	return NewTokenizer(enc, ms)
}

// readMerges parses merges.txt: an optional "#version" first line, then
// one merge per line, the two symbols separated by a single space. Blank
// lines are skipped.
func readMerges(r io.Reader) ([][2]string, error) {
	var out [][2]string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSuffix(sc.Text(), "\r")
		if s == "" || line == 1 && strings.HasPrefix(s, "#version") {
			continue
		}
		a, b, ok := strings.Cut(s, " ")
		if !ok || a == "" || b == "" || strings.Contains(b, " ") {
			return nil, fmt.Errorf("text: tokenizer: merges line %d: %q is not two symbols separated by a space", line, s)
		}
		out = append(out, [2]string{a, b})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("text: tokenizer: merges: %w", err)
	}
	return out, nil
}

// NewTokenizer returns a byte-level BPE tokenizer with vocabulary vocab
// (token → id, as vocab.json) and merges in rank order (the first merges
// first). It checks that the vocabulary is consistent, so that encoding
// never fails: ids are distinct and non-negative, every byte's symbol is
// in the vocabulary, and so is the result of every merge.
//
// Tokens of more than one character that no merge produces, such as
// "<|endoftext|>", are special: [Tokenizer.EncodeWithSpecial] recognizes
// them in text; [Tokenizer.Encode] does not, as GPT-2's encoder.py does
// not.
func NewTokenizer(vocab map[string]int, merges [][2]string) (*Tokenizer, error) {
	t := &Tokenizer{encoder: make(map[string]int, len(vocab)), ranks: make(map[[2]string]int, len(merges)), cache: map[string][]int{}}
	maxID := -1
	for tok, id := range vocab {
		if id < 0 {
			return nil, fmt.Errorf("text: tokenizer: token %q has negative id %d", tok, id)
		}
		if id > math.MaxInt32 {
			return nil, fmt.Errorf("text: tokenizer: token %q has id %d, beyond any real vocabulary", tok, id)
		}
		if tok == "" {
			return nil, fmt.Errorf("text: tokenizer: the vocabulary has an empty token")
		}
		t.encoder[tok] = id
		maxID = max(maxID, id)
	}
	t.decoder = make(map[int]string, len(vocab))
	t.size = maxID + 1
	for tok, id := range vocab {
		if prev, ok := t.decoder[id]; ok {
			a, b := prev, tok
			if b < a {
				a, b = b, a
			}
			return nil, fmt.Errorf("text: tokenizer: tokens %q and %q share id %d", a, b, id)
		}
		t.decoder[id] = tok
	}
	for b, r := range byteEncoder {
		if _, ok := vocab[string(r)]; !ok {
			return nil, fmt.Errorf("text: tokenizer: the vocabulary lacks the symbol %q of byte 0x%02x", r, b)
		}
	}
	produced := map[string]bool{}
	for i, m := range merges {
		if _, ok := vocab[m[0]+m[1]]; !ok {
			return nil, fmt.Errorf("text: tokenizer: merge %d (%q %q) makes %q, which is not in the vocabulary", i, m[0], m[1], m[0]+m[1])
		}
		t.ranks[m] = i // a repeated merge takes its last rank, as encoder.py's dict(zip(merges, range(n))) does
		produced[m[0]+m[1]] = true
	}
	for tok := range vocab {
		if utf8.RuneCountInString(tok) > 1 && !produced[tok] {
			t.special = append(t.special, tok)
		}
	}
	sort.Slice(t.special, func(i, j int) bool {
		a, b := t.special[i], t.special[j]
		if len(a) != len(b) {
			return len(a) > len(b)
		}
		return a < b
	})
	return t, nil
}

// VocabSize returns the number of ids: one more than the largest.
func (t *Tokenizer) VocabSize() int { return t.size }

// TokenID returns the id of token (as spelled in vocab.json, so GPT-2's
// " the" is "Ġthe"), and whether the vocabulary has it.
func (t *Tokenizer) TokenID(token string) (int, bool) {
	id, ok := t.encoder[token]
	return id, ok
}

// Token returns the vocabulary's spelling of id ("" when it has none).
func (t *Tokenizer) Token(id int) string {
	return t.decoder[id]
}

// SpecialTokens returns the tokens that [Tokenizer.EncodeWithSpecial]
// recognizes in text, longest first.
func (t *Tokenizer) SpecialTokens() []string { return append([]string(nil), t.special...) }

// Encode returns the token ids of text, as GPT-2's encoder.py does:
// special tokens written in text are encoded as ordinary text.
func (t *Tokenizer) Encode(text string) []int {
	var ids []int
	for _, piece := range Pretokenize(text) {
		ids = append(ids, t.encodePiece(piece)...)
	}
	return ids
}

// EncodeWithSpecial is [Tokenizer.Encode] that first splits text around
// the vocabulary's special tokens (such as "<|endoftext|>"), longest
// first, and gives each its own id, as Hugging Face's tokenizers do with
// added tokens.
func (t *Tokenizer) EncodeWithSpecial(text string) []int {
	var ids []int
	for len(text) > 0 {
		at, sp := -1, ""
		for _, s := range t.special {
			if i := strings.Index(text, s); i >= 0 && (at < 0 || i < at) {
				at, sp = i, s // longest first: on equal positions the first found wins
			}
		}
		if at < 0 {
			return append(ids, t.Encode(text)...)
		}
		ids = append(ids, t.Encode(text[:at])...)
		ids = append(ids, t.encoder[sp])
		text = text[at+len(sp):]
	}
	return ids
}

// encodePiece applies the merges to one pre-token.
func (t *Tokenizer) encodePiece(piece string) []int {
	t.mu.RLock()
	ids, ok := t.cache[piece]
	t.mu.RUnlock()
	if ok {
		return ids
	}
	word := make([]string, len(piece))
	for i := range len(piece) {
		word[i] = string(byteEncoder[piece[i]])
	}
	word = t.bpe(word)
	ids = make([]int, len(word))
	for i, w := range word {
		ids[i] = t.encoder[w] // present: NewTokenizer checked every byte and every merge
	}
	t.mu.Lock()
	if len(t.cache) >= maxCache {
		clear(t.cache)
	}
	t.cache[piece] = ids
	t.mu.Unlock()
	return ids
}

// bpe merges the symbols of word as encoder.py's bpe() does: while some
// adjacent pair has a rank, the lowest-ranked pair is merged at each of
// its non-overlapping occurrences from left to right.
func (t *Tokenizer) bpe(word []string) []string {
	for len(word) > 1 {
		best, bestRank := [2]string{}, -1
		for i := 0; i+1 < len(word); i++ {
			p := [2]string{word[i], word[i+1]}
			if r, ok := t.ranks[p]; ok && (bestRank < 0 || r < bestRank) {
				best, bestRank = p, r
			}
		}
		if bestRank < 0 {
			break
		}
		out := word[:0:0]
		for i := 0; i < len(word); {
			if i+1 < len(word) && word[i] == best[0] && word[i+1] == best[1] {
				out = append(out, best[0]+best[1])
				i += 2
			} else {
				out = append(out, word[i])
				i++
			}
		}
		word = out
	}
	return word
}

// Decode returns the text of ids: the bytes their tokens stand for. The
// result is the original text for ids made by Encode; an arbitrary id
// sequence may split a UTF-8 character, and then the string holds the
// bytes as they are (use strings.ToValidUTF8 to replace them, as
// encoder.py's errors="replace" does). An id outside the vocabulary is an
// error.
func (t *Tokenizer) Decode(ids []int) (string, error) {
	var b bytes.Buffer
	for _, id := range ids {
		tok, ok := t.decoder[id]
		if !ok {
			return "", fmt.Errorf("text: tokenizer: decode: id %d is not in the vocabulary", id)
		}
		for _, r := range tok {
			c, ok := byteDecoder[r]
			if !ok {
				return "", fmt.Errorf("text: tokenizer: decode: token %d (%q) has the character %q, which stands for no byte", id, tok, r)
			}
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}
