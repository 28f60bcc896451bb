package text

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// contractions are the pattern's first alternatives, tried in this order.
var contractions = [...]string{"s", "t", "re", "ve", "m", "ll", "d"}

// runeClass sorts a character into the classes GPT-2's pattern tells
// apart: letters (\p{L}), numbers (\p{N}), whitespace (\s) and the rest.
type runeClass uint8

const (
	classOther runeClass = iota
	classLetter
	classNumber
	classSpace
)

func classify(r rune) runeClass {
	switch {
	case r < utf8.RuneSelf:
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
			return classLetter
		case '0' <= r && r <= '9':
			return classNumber
		case r == ' ', '\t' <= r && r <= '\r':
			return classSpace
		}
		return classOther
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsNumber(r):
		return classNumber
	case unicode.IsSpace(r):
		// Go's IsSpace is Unicode's White_Space property, which is what
		// \s matches in the regex module that GPT-2's encoder.py uses.
		return classSpace
	}
	return classOther // includes utf8.RuneError: an invalid byte stays a piece of its own class
}

// Pretokenize splits text into the pieces GPT-2's pre-tokenization pattern
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// finds, in order; the pieces concatenate to text. Go's regexp has no
// lookahead, so the pattern is matched by hand: at each position the
// alternatives are tried in order with the regex engine's leftmost-first,
// greedy semantics. \p{L}, \p{N} and \s are Go's unicode.IsLetter,
// unicode.IsNumber and unicode.IsSpace. Invalid UTF-8 bytes count as
// neither letters, numbers nor space.
func Pretokenize(text string) []string {
	var out []string
	for i := 0; i < len(text); {
		n := matchAt(text, i)
		out = append(out, text[i:i+n])
		i += n
	}
	return out
}

// matchAt returns the length in bytes of the pattern's match at s[i:],
// which is never empty.
func matchAt(s string, i int) int {
	// 's|'t|'re|'ve|'m|'ll|'d
	if s[i] == '\'' {
		for _, c := range contractions {
			if strings.HasPrefix(s[i+1:], c) {
				return 1 + len(c)
			}
		}
	}
	// ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+': an optional ASCII
	// space, then a run of one class. If the space is not followed by such
	// a run, dropping it does not help: a space starts no run of these
	// classes.
	j := i
	if s[j] == ' ' {
		j++
	}
	if j < len(s) {
		r, w := utf8.DecodeRuneInString(s[j:])
		if c := classify(r); c != classSpace {
			j += w
			for j < len(s) {
				r, w := utf8.DecodeRuneInString(s[j:])
				if classify(r) != c {
					break
				}
				j += w
			}
			return j - i
		}
	}
	// '\s+(?!\S)': the run of whitespace, less its last character when a
	// non-space follows (backtracking one step always satisfies the
	// lookahead, as the character given back is a space). '\s+': a single
	// whitespace character before a non-space.
	j, last := i, i
	for j < len(s) {
		r, w := utf8.DecodeRuneInString(s[j:])
		if classify(r) != classSpace {
			break
		}
		last = j
		j += w
	}
	if j == len(s) || last == i {
		return j - i
	}
	return last - i
}
