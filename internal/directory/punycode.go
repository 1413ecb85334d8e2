package directory

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Punycode (RFC 3492), used to turn IDNA A-labels ("xn--mnchen-3ya") into
// U-labels ("münchen") and back, so that both spellings of an
// internationalised domain name compare equal (RFC 5890/5891). Only the
// Punycode transformation is implemented here, not the full IDNA2008
// validity tables; labels are checked with simpler rules in parseLabel.

const (
	pcBase        = 36
	pcTMin        = 1
	pcTMax        = 26
	pcSkew        = 38
	pcDamp        = 700
	pcInitialBias = 72
	pcInitialN    = 128
	pcMaxValue    = 1 << 30 // far above any valid label; guards overflow
)

var errPunycode = errors.New("invalid punycode")

func pcAdapt(delta, numPoints int, first bool) int {
	if first {
		delta /= pcDamp
	} else {
		delta /= 2
	}
	delta += delta / numPoints
	k := 0
	for delta > ((pcBase-pcTMin)*pcTMax)/2 {
		delta /= pcBase - pcTMin
		k += pcBase
	}
	return k + (pcBase-pcTMin+1)*delta/(delta+pcSkew)
}

func pcThreshold(k, bias int) int {
	t := k - bias
	if t < pcTMin {
		return pcTMin
	}
	if t > pcTMax {
		return pcTMax
	}
	return t
}

func pcDigit(d int) byte {
	if d < 26 {
		return byte('a' + d)
	}
	return byte('0' + d - 26)
}

func pcDigitValue(c byte) (int, bool) {
	switch {
	case c >= 'a' && c <= 'z':
		return int(c - 'a'), true
	case c >= 'A' && c <= 'Z':
		return int(c - 'A'), true
	case c >= '0' && c <= '9':
		return int(c-'0') + 26, true
	}
	return 0, false
}

// punyEncode encodes a label (without the "xn--" prefix).
func punyEncode(s string) (string, error) {
	input := []rune(s)
	var out strings.Builder
	for _, r := range input {
		if r < 0x80 {
			out.WriteByte(byte(r))
		}
	}
	b := out.Len()
	h := b
	if b > 0 {
		out.WriteByte('-')
	}
	n, delta, bias := pcInitialN, 0, pcInitialBias
	for h < len(input) {
		m := int(utf8.MaxRune) + 1
		for _, r := range input {
			if int(r) >= n && int(r) < m {
				m = int(r)
			}
		}
		if (m - n) > (pcMaxValue-delta)/(h+1) {
			return "", errPunycode
		}
		delta += (m - n) * (h + 1)
		n = m
		for _, r := range input {
			if int(r) < n {
				delta++
				if delta > pcMaxValue {
					return "", errPunycode
				}
			}
			if int(r) == n {
				q := delta
				for k := pcBase; ; k += pcBase {
					t := pcThreshold(k, bias)
					if q < t {
						break
					}
					out.WriteByte(pcDigit(t + (q-t)%(pcBase-t)))
					q = (q - t) / (pcBase - t)
				}
				out.WriteByte(pcDigit(q))
				bias = pcAdapt(delta, h+1, h == b)
				delta = 0
				h++
			}
		}
		delta++
		n++
	}
	return out.String(), nil
}

// punyDecode decodes a label (without the "xn--" prefix).
func punyDecode(s string) (string, error) {
	var output []rune
	pos := 0
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		for j := 0; j < i; j++ {
			if s[j] >= 0x80 {
				return "", errPunycode
			}
			output = append(output, rune(s[j]))
		}
		pos = i + 1
	}
	n, i, bias := pcInitialN, 0, pcInitialBias
	for pos < len(s) {
		oldi, w := i, 1
		for k := pcBase; ; k += pcBase {
			if pos >= len(s) {
				return "", errPunycode
			}
			digit, ok := pcDigitValue(s[pos])
			pos++
			if !ok || digit > (pcMaxValue-i)/w {
				return "", errPunycode
			}
			i += digit * w
			t := pcThreshold(k, bias)
			if digit < t {
				break
			}
			if w > pcMaxValue/(pcBase-t) {
				return "", errPunycode
			}
			w *= pcBase - t
		}
		l := len(output) + 1
		bias = pcAdapt(i-oldi, l, oldi == 0)
		n += i / l
		i %= l
		if n > utf8.MaxRune || (n >= 0xD800 && n <= 0xDFFF) {
			return "", errPunycode
		}
		output = append(output, 0)
		copy(output[i+1:], output[i:])
		output[i] = rune(n)
		i++
	}
	return string(output), nil
}
