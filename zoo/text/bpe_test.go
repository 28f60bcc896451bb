package text

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// bpeCases is bpe_cases.json, written by testdata/gen_fixtures.py with
// the regex module and a restatement of GPT-2's encoder.py.
type bpeCases struct {
	VocabSize int `json:"vocab_size"`
	Merges    int `json:"merges"`
	Cases     []struct {
		Text       string   `json:"text"`
		Pretokens  []string `json:"pretokens"`
		IDs        []int    `json:"ids"`
		IDsSpecial []int    `json:"ids_special"`
		Tokens     []string `json:"tokens"`
	} `json:"cases"`
}

func loadCases(t testing.TB) *bpeCases {
	t.Helper()
	b, err := os.ReadFile("testdata/bpe_cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var c bpeCases
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

func testTokenizer(t testing.TB) *Tokenizer {
	t.Helper()
	tok, err := LoadTokenizer("testdata/vocab.json", "testdata/merges.txt")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestPretokenizeMatchesRegex(t *testing.T) {
	for _, c := range loadCases(t).Cases {
		got := Pretokenize(c.Text)
		if len(got) == 0 && len(c.Pretokens) == 0 {
			continue
		}
		if !slices.Equal(got, c.Pretokens) {
			t.Errorf("Pretokenize(%q) = %q, the regex module gives %q", c.Text, got, c.Pretokens)
		}
	}
}

func TestEncodeMatchesReference(t *testing.T) {
	tok := testTokenizer(t)
	cases := loadCases(t)
	if tok.VocabSize() != cases.VocabSize {
		t.Fatalf("VocabSize = %d, want %d", tok.VocabSize(), cases.VocabSize)
	}
	if sp := tok.SpecialTokens(); !slices.Equal(sp, []string{EndOfText}) {
		t.Errorf("SpecialTokens = %q, want [%q]", sp, EndOfText)
	}
	for _, c := range cases.Cases {
		got := tok.Encode(c.Text)
		if !slices.Equal(got, c.IDs) && !(len(got) == 0 && len(c.IDs) == 0) {
			t.Errorf("Encode(%q) = %v, want %v (%q)", c.Text, got, c.IDs, c.Tokens)
			continue
		}
		for i, id := range got {
			if tok.Token(id) != c.Tokens[i] {
				t.Errorf("Token(%d) = %q, want %q", id, tok.Token(id), c.Tokens[i])
			}
		}
		sp := tok.EncodeWithSpecial(c.Text)
		if !slices.Equal(sp, c.IDsSpecial) && !(len(sp) == 0 && len(c.IDsSpecial) == 0) {
			t.Errorf("EncodeWithSpecial(%q) = %v, want %v", c.Text, sp, c.IDsSpecial)
		}
		for _, ids := range [][]int{got, sp} {
			dec, err := tok.Decode(ids)
			if err != nil || dec != c.Text {
				t.Errorf("Decode(Encode(%q)) = %q, %v", c.Text, dec, err)
			}
		}
	}
}

func TestEncodeConcurrent(t *testing.T) {
	tok := testTokenizer(t)
	cases := loadCases(t).Cases
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(cases); i += 2 {
				if got := tok.Encode(cases[i].Text); !slices.Equal(got, cases[i].IDs) && len(cases[i].IDs) > 0 {
					t.Errorf("concurrent Encode(%q) = %v, want %v", cases[i].Text, got, cases[i].IDs)
				}
			}
		}()
	}
	wg.Wait()
}

func TestDecodeInvalid(t *testing.T) {
	tok := testTokenizer(t)
	for _, ids := range [][]int{{-1}, {tok.VocabSize()}, {1, 1 << 30}} {
		if _, err := tok.Decode(ids); err == nil || !strings.HasPrefix(err.Error(), "text: ") {
			t.Errorf("Decode(%v): err = %v, want a text: error", ids, err)
		}
	}
	// Bytes of a split character come back as they are.
	emoji := tok.Encode("👍")
	if len(emoji) < 2 {
		t.Fatalf("Encode(👍) = %v: the test vocabulary should not have the whole emoji", emoji)
	}
	s, err := tok.Decode(emoji[:1])
	if err != nil || utf8.ValidString(s) || !strings.HasPrefix("👍", s) {
		t.Errorf("Decode(first byte of 👍) = %q, %v", s, err)
	}
}

func TestTokenizerRejectsBadFiles(t *testing.T) {
	good := map[string]int{}
	for b, r := range byteEncoder {
		good[string(r)] = b
	}
	good["ab"] = 256
	tests := []struct {
		name   string
		vocab  map[string]int
		merges [][2]string
		want   string
	}{
		{"negative id", map[string]int{"a": -1}, nil, "negative id"},
		{"shared id", func() map[string]int { v := clone(good); v["zz"] = 3; return v }(), nil, "share id"},
		{"missing byte", func() map[string]int { v := clone(good); delete(v, "a"); return v }(), nil, "lacks the symbol"},
		{"merge result missing", good, [][2]string{{"a", "c"}}, "not in the vocabulary"},
		{"empty token", func() map[string]int { v := clone(good); v[""] = 300; return v }(), nil, "empty token"},
	}
	for _, tc := range tests {
		_, err := NewTokenizer(tc.vocab, tc.merges)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one saying %q", tc.name, err, tc.want)
		}
	}
	if _, err := NewTokenizer(good, [][2]string{{"a", "b"}}); err != nil {
		t.Fatalf("good vocabulary: %v", err)
	}
	for _, merges := range []string{"#version: 0.2\na\n", "a b c\n", " b\n"} {
		if _, err := ReadTokenizer(strings.NewReader(`{"a": 0}`), strings.NewReader(merges)); err == nil {
			t.Errorf("merges %q: no error", merges)
		}
	}
	if _, err := ReadTokenizer(strings.NewReader(`{"a": `), strings.NewReader("")); err == nil {
		t.Error("truncated vocab.json: no error")
	}
	if _, err := LoadTokenizer("testdata/nonexistent.json", "testdata/merges.txt"); err == nil {
		t.Error("missing vocab file: no error")
	}
}

func clone(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// FuzzTokenizer checks the properties that hold for any input: the
// pre-tokens concatenate to the text, each is non-empty, and decoding
// the encoding gives the text back, byte for byte.
func FuzzTokenizer(f *testing.F) {
	for _, c := range loadCases(f).Cases {
		f.Add(c.Text)
	}
	f.Add("\xff\xfe invalid 'utf-8 \xe2\x82")
	tok := testTokenizer(f)
	f.Fuzz(func(t *testing.T, s string) {
		pieces := Pretokenize(s)
		if strings.Join(pieces, "") != s || slices.Contains(pieces, "") {
			t.Fatalf("Pretokenize(%q) = %q", s, pieces)
		}
		for _, ids := range [][]int{tok.Encode(s), tok.EncodeWithSpecial(s)} {
			if d, err := tok.Decode(ids); err != nil || d != s {
				t.Fatalf("Decode(Encode(%q)) = %q, %v", s, d, err)
			}
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	tok := testTokenizer(b)
	var sb strings.Builder
	for _, c := range loadCases(b).Cases {
		sb.WriteString(c.Text)
	}
	text := sb.String()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.Encode(text)
	}
}

// FuzzReadTokenizer feeds malformed vocabularies and merge lists: they
// give errors, never panics, and a tokenizer that loads round-trips text.
func FuzzReadTokenizer(f *testing.F) {
	vocab, err := os.ReadFile("testdata/vocab.json")
	if err != nil {
		f.Fatal(err)
	}
	merges, err := os.ReadFile("testdata/merges.txt")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(vocab, merges)
	f.Add(vocab[:len(vocab)/2], merges[:len(merges)/2])
	f.Add([]byte(`{"a": 0, "b": 1, "ab": 2}`), []byte("#version: 0.2\na b\n"))
	f.Add([]byte(`{"a": 99999999999}`), []byte(""))
	f.Fuzz(func(t *testing.T, vocab, merges []byte) {
		tok, err := ReadTokenizer(bytes.NewReader(vocab), bytes.NewReader(merges))
		if err != nil {
			return
		}
		const s = "Hello, wörld 123 'tis\n"
		if d, err := tok.Decode(tok.EncodeWithSpecial(s)); err != nil || d != s {
			t.Fatalf("round trip: %q, %v", d, err)
		}
	})
}
