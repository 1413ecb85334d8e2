package message

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestDecodeTransfer(t *testing.T) {
	tests := []struct{ enc, in, want string }{
		{"7bit", "as is=\r\n", "as is=\r\n"},
		{"x-unknown", "as is", "as is"},
		{"base64", "SGVsbG8sIHdvcmxkIQ==", "Hello, world!"},
		{"BASE64", "SGVs\r\nbG8s\r\nIHdv\r\ncmxk\r\nIQ==\r\n", "Hello, world!"},
		{"base64", "SGVsbG8*!@ sIHdvcmxkIQ", "Hello, world!"},
		{"base64", "QQ==QUI=", "AAB"},
		{"base64", "QUJD\nQ", "ABC"},
		{"quoted-printable", "caf=C3=A9 =3D equal", "café = equal"},
		{"quoted-printable", "soft=\r\nbreak", "softbreak"},
		{"quoted-printable", "soft=  \r\nbreak", "softbreak"},
		{"quoted-printable", "soft=\nbreak", "softbreak"},
		{"quoted-printable", "trailing   \r\nspace\t\n", "trailing\r\nspace\n"},
		{"quoted-printable", "inner  space  x", "inner  space  x"},
		{"quoted-printable", "lower =c3=a9", "lower é"},
		{"quoted-printable", "bad =ZZ =4 =", "bad =ZZ =4 "},
		{"quoted-printable", "eq at end=", "eq at end"},
		{"quoted-printable", "eq ws x=  x", "eq ws x=  x"},
		{"quoted-printable", "bare\rcr", "bare\rcr"},
		{"quoted-printable", "a =\rb", "a =\rb"},
		{"quoted-printable", "end=4", "end=4"},
		{"quoted-printable", "space before eq =\r\n", "space before eq "},
	}
	for _, tt := range tests {
		got, err := io.ReadAll(DecodeReader(tt.enc, strings.NewReader(tt.in)))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("%s %q = %q, want %q", tt.enc, tt.in, got, tt.want)
		}
		if b := decodeBytes(tt.enc, []byte(tt.in)); string(b) != tt.want {
			t.Errorf("decodeBytes %s %q = %q, want %q", tt.enc, tt.in, b, tt.want)
		}
		got, _ = io.ReadAll(DecodeReader(tt.enc, iotest.OneByteReader(strings.NewReader(tt.in))))
		if string(got) != tt.want {
			t.Errorf("one byte at a time: %s %q = %q, want %q", tt.enc, tt.in, got, tt.want)
		}
	}
	// The reader's error comes through.
	if _, err := io.ReadAll(DecodeReader("base64", iotest.ErrReader(io.ErrUnexpectedEOF))); err != io.ErrUnexpectedEOF {
		t.Errorf("error %v", err)
	}
}

// FuzzDecodeTransfer checks that decoding does not depend on how the input
// is split.
func FuzzDecodeTransfer(f *testing.F) {
	f.Add([]byte("caf=C3=A9 =\r\nx  \r\n=4"), uint8(3))
	f.Add([]byte("SGVs\r\nbG8=QQ"), uint8(5))
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		for _, enc := range []string{"base64", "quoted-printable"} {
			whole := decodeBytes(enc, data)
			i := int(split)
			if i > len(data) {
				i = len(data)
			}
			d := xferDecoder{kind: xferKind(enc)}
			parts := d.decode(nil, data[:i])
			parts = d.decode(parts, data[i:])
			parts = d.flush(parts)
			if !bytes.Equal(whole, parts) {
				t.Fatalf("%s split at %d: %q vs %q", enc, i, whole, parts)
			}
			r, err := io.ReadAll(DecodeReader(enc, iotest.OneByteReader(bytes.NewReader(data))))
			if err != nil || !bytes.Equal(r, whole) {
				t.Fatalf("%s reader: %q vs %q", enc, r, whole)
			}
		}
	})
}
