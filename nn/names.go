package nn

import (
	"strings"
	"unicode"
)

// SnakeCase maps a Go field name to the PyTorch attribute name that module
// discovery uses: RunningMean → running_mean, BN1 → bn1, LMHead → lm_head,
// CAttn → c_attn, InProjWeight → in_proj_weight, Layer1 → layer1. A new
// word starts at an upper-case letter that follows a lower-case letter or
// a digit, or that precedes a lower-case letter after an upper-case run.
func SnakeCase(name string) string {
	rs := []rune(name)
	var b strings.Builder
	for i, r := range rs {
		if unicode.IsUpper(r) && i > 0 {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
